//! Loop devices through their ioctls (`/dev/loop-control`, `LOOP_CONFIGURE`, `LOOP_CLR_FD`).
//!
//! [`LoopDevice::attach`] takes a free minor, binds an open file to it with 512-byte logical
//! sectors and, when asked, direct I/O, and keeps the device open for as long as the value
//! lives. Another process may grab the same free minor between `LOOP_CTL_GET_FREE` and
//! `LOOP_CONFIGURE`; that shows up as `EBUSY` and the attach retries with a new minor a
//! bounded number of times.
//!
//! The read-only flag of `BLKROSET` belongs to the block device and survives a detach, so
//! attach clears it (unless attaching read-only) and detach clears it before unbinding.
//!
//! The device is bound with autoclear: the daemon holds it open while it runs, and if the
//! daemon dies the kernel unbinds it at the last close (at once, or when the file system on
//! it is unmounted), so no loop device stays bound to a dead FUSE mount.
//!
//! Detaching is asynchronous in the kernel when the device is still open elsewhere: the
//! kernel then only sets autoclear and releases the backing file at the last close.
//! [`LoopDevice::detach`] therefore waits (bounded) until sysfs no longer shows a backing file.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

const LOOP_CLR_FD: libc::c_ulong = 0x4C01;
const LOOP_SET_DIRECT_IO: libc::c_ulong = 0x4C08;
const LOOP_CONFIGURE: libc::c_ulong = 0x4C0A;
const LOOP_CTL_GET_FREE: libc::c_ulong = 0x4C82;
const BLKROSET: libc::c_ulong = 0x125D;
const BLKROGET: libc::c_ulong = 0x125E;
const LO_FLAGS_READ_ONLY: u32 = 1;
const LO_FLAGS_AUTOCLEAR: u32 = 4;
const LO_FLAGS_DIRECT_IO: u32 = 16;
const LO_NAME_SIZE: usize = 64;
const ATTACH_ATTEMPTS_MAX: usize = 16;

/// `struct loop_info64` from `<linux/loop.h>`.
#[repr(C)]
struct LoopInfo64 {
    lo_device: u64,
    lo_inode: u64,
    lo_rdevice: u64,
    lo_offset: u64,
    lo_sizelimit: u64,
    lo_number: u32,
    lo_encrypt_type: u32,
    lo_encrypt_key_size: u32,
    lo_flags: u32,
    lo_file_name: [u8; LO_NAME_SIZE],
    lo_crypt_name: [u8; LO_NAME_SIZE],
    lo_encrypt_key: [u8; 32],
    lo_init: [u64; 2],
}

/// `struct loop_config` from `<linux/loop.h>`.
#[repr(C)]
struct LoopConfig {
    fd: u32,
    block_size: u32,
    info: LoopInfo64,
    reserved: [u64; 8],
}

const _: () = assert!(std::mem::size_of::<LoopInfo64>() == 232);
const _: () = assert!(std::mem::size_of::<LoopConfig>() == 304);

/// An attached loop device, held open by this value.
#[derive(Debug)]
pub struct LoopDevice {
    path: PathBuf,
    number: u32,
    dev: Option<File>,
}

fn cvt(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

impl LoopDevice {
    /// Attaches `file` (whose path is `name`, recorded as the loop's file name) to a free
    /// loop device with 512-byte sectors; `direct_io` asks for `LO_FLAGS_DIRECT_IO`.
    ///
    /// # Errors
    /// `/dev/loop-control` or the device cannot be opened, no free minor after
    /// 16 tries, or `LOOP_CONFIGURE` fails.
    pub fn attach(file: &File, name: &Path, read_only: bool, direct_io: bool) -> io::Result<Self> {
        let ctl = OpenOptions::new().read(true).write(true).open("/dev/loop-control")?;
        let mut last_err = io::Error::from_raw_os_error(libc::EBUSY);
        for _ in 0..ATTACH_ATTEMPTS_MAX {
            // SAFETY: LOOP_CTL_GET_FREE takes no argument and returns a minor number.
            let number = cvt(unsafe { libc::ioctl(ctl.as_raw_fd(), LOOP_CTL_GET_FREE) })? as u32;
            let path = PathBuf::from(format!("/dev/loop{number}"));
            let dev = OpenOptions::new()
                .read(true)
                .write(!read_only)
                .custom_flags(libc::O_CLOEXEC)
                .open(&path)?;
            let mut cfg = LoopConfig {
                fd: file.as_raw_fd() as u32,
                block_size: 512,
                // SAFETY: LoopInfo64 is plain integers and byte arrays; all-zero is valid.
                info: unsafe { std::mem::zeroed() },
                reserved: [0; 8],
            };
            // Autoclear: if the daemon dies, the device unbinds at its last close instead of
            // staying bound to a dead FUSE file.
            cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR
                | if read_only { LO_FLAGS_READ_ONLY } else { 0 }
                | if direct_io { LO_FLAGS_DIRECT_IO } else { 0 };
            let bytes = name.as_os_str().as_encoded_bytes();
            let n = bytes.len().min(LO_NAME_SIZE - 1);
            cfg.info.lo_file_name[..n].copy_from_slice(&bytes[..n]);
            // SAFETY: LOOP_CONFIGURE reads one struct loop_config, which cfg is (layout asserted
            // above); the backing descriptor stays open for the duration of the call.
            match cvt(unsafe { libc::ioctl(dev.as_raw_fd(), LOOP_CONFIGURE, &cfg as *const _) }) {
                Ok(_) => {
                    let lo = LoopDevice { path, number, dev: Some(dev) };
                    // The read-only policy set by BLKROSET belongs to the block device, not to
                    // the binding: clear what a previous user of this minor may have left.
                    if !read_only {
                        lo.set_read_only(false)?;
                    }
                    if direct_io && !lo.direct_io() {
                        // SAFETY: LOOP_SET_DIRECT_IO takes an integer argument.
                        cvt(unsafe {
                            libc::ioctl(lo.fd(), LOOP_SET_DIRECT_IO, 1 as libc::c_ulong)
                        })?;
                    }
                    return Ok(lo);
                }
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => last_err = e,
                Err(e) => return Err(e),
            }
        }
        Err(last_err)
    }

    fn fd(&self) -> libc::c_int {
        self.dev.as_ref().map_or(-1, |d| d.as_raw_fd())
    }

    /// `/dev/loopN`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The minor number N of `/dev/loopN`.
    pub fn number(&self) -> u32 {
        self.number
    }

    fn sysfs(&self, attr: &str) -> Option<String> {
        let p = format!("/sys/block/loop{}/loop/{attr}", self.number);
        std::fs::read_to_string(p).ok().map(|s| s.trim().to_string())
    }

    /// Whether the kernel runs the device with direct I/O (`/sys/block/loopN/loop/dio`).
    pub fn direct_io(&self) -> bool {
        self.sysfs("dio").as_deref() == Some("1")
    }

    /// Whether something holds the device exclusively (a mounted file system, a
    /// device-mapper table, `mkfs`): an `O_EXCL` open then fails with `EBUSY`.
    pub fn in_use(&self) -> bool {
        let r = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_EXCL | libc::O_CLOEXEC)
            .open(&self.path);
        matches!(r, Err(e) if e.raw_os_error() == Some(libc::EBUSY))
    }

    /// Sets or clears the block device's read-only flag (`BLKROSET`).
    ///
    /// # Errors
    /// The ioctl's error.
    pub fn set_read_only(&self, ro: bool) -> io::Result<()> {
        let v: libc::c_int = ro.into();
        // SAFETY: BLKROSET reads one int through the pointer, which points at a live local.
        cvt(unsafe { libc::ioctl(self.fd(), BLKROSET, &v as *const libc::c_int) })?;
        Ok(())
    }

    /// The block device's read-only flag (`BLKROGET`).
    ///
    /// # Errors
    /// The ioctl's error.
    pub fn read_only(&self) -> io::Result<bool> {
        let mut v: libc::c_int = 0;
        // SAFETY: BLKROGET writes one int through the pointer, which points at a live local.
        cvt(unsafe { libc::ioctl(self.fd(), BLKROGET, &mut v as *mut libc::c_int) })?;
        Ok(v != 0)
    }

    /// Detaches the backing file and closes the device, then waits up to `wait` for the
    /// kernel to release the backing file (it does so at the last close of the device).
    ///
    /// # Errors
    /// `LOOP_CLR_FD` fails, or the backing file is still attached after `wait`
    /// (`EBUSY`: someone else still has the device open).
    pub fn detach(mut self, wait: Duration) -> io::Result<()> {
        self.detach_inner(wait)
    }

    fn detach_inner(&mut self, wait: Duration) -> io::Result<()> {
        let Some(dev) = self.dev.take() else { return Ok(()) };
        // Leave the minor as we found it: BLKROSET outlives the binding.
        let rw: libc::c_int = 0;
        // SAFETY: BLKROSET reads one int through the pointer, which points at a live local.
        let _ = unsafe { libc::ioctl(dev.as_raw_fd(), BLKROSET, &rw as *const libc::c_int) };
        // SAFETY: LOOP_CLR_FD takes no argument.
        let rc = cvt(unsafe { libc::ioctl(dev.as_raw_fd(), LOOP_CLR_FD, 0 as libc::c_ulong) });
        drop(dev);
        match rc {
            Ok(_) => {}
            // ENXIO: nothing attached any more.
            Err(e) if e.raw_os_error() == Some(libc::ENXIO) => return Ok(()),
            Err(e) => return Err(e),
        }
        let step = Duration::from_millis(10);
        let mut waited = Duration::ZERO;
        while self.sysfs("backing_file").is_some() {
            if waited >= wait {
                return Err(io::Error::from_raw_os_error(libc::EBUSY));
            }
            std::thread::sleep(step);
            waited += step;
        }
        Ok(())
    }
}

impl Drop for LoopDevice {
    fn drop(&mut self) {
        let _ = self.detach_inner(Duration::from_secs(2));
    }
}
