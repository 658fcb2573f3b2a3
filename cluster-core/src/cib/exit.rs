//! Pacemaker's exit codes (`crm_exit_t`), as the command-line tools return them.

/// Success.
pub const OK: i32 = 0;
/// Unspecified error.
pub const ERROR: i32 = 1;
/// Invalid parameter.
pub const INVALID_PARAM: i32 = 2;
/// Unimplemented.
pub const UNIMPLEMENT_FEATURE: i32 = 3;
/// Insufficient privileges.
pub const INSUFFICIENT_PRIV: i32 = 4;
/// Command-line usage error.
pub const USAGE: i32 = 64;
/// Input data error (bad XML).
pub const DATAERR: i32 = 65;
/// Input file not available.
pub const NOINPUT: i32 = 66;
/// Can't create output (I/O error on write).
pub const CANTCREAT: i32 = 73;
/// Configuration invalid (schema/validation).
pub const CONFIG: i32 = 78;
/// Could not connect to the cluster.
pub const DISCONNECT: i32 = 102;
/// Update would lower the CIB version.
pub const OLD: i32 = 103;
/// Requested object (resource, node, attribute) not found.
pub const NOSUCH: i32 = 105;
/// Object already exists.
pub const EXISTS: i32 = 108;
/// Multiple objects matched.
pub const MULTIPLE: i32 = 109;
/// Refused: the command is dangerous without `--force`.
pub const UNSAFE: i32 = 107;
/// Agent or tool not installed.
pub const NOT_INSTALLED: i32 = 5;
/// Not configured.
pub const NOT_CONFIGURED: i32 = 6;
/// Not running.
pub const NOT_RUNNING: i32 = 7;
/// Internal software error.
pub const SOFTWARE: i32 = 70;
/// Operating-system error.
pub const OSERR: i32 = 71;
/// I/O error.
pub const IOERR: i32 = 74;
/// Temporary failure, try again.
pub const TEMPFAIL: i32 = 75;
/// Permission denied.
pub const NOPERM: i32 = 77;
/// Fatal error, do not respawn.
pub const FATAL: i32 = 100;
/// No quorum.
pub const QUORUM: i32 = 106;
/// Timed out.
pub const TIMEOUT: i32 = 124;
