//! Tests of the configuration parser on real files in a temporary directory.

use std::path::{Path, PathBuf};

use super::*;

const DRBD_CONF: &str = "# You can find an example in  /usr/share/doc/drbd.../drbd.conf.example\n\
include \"drbd.d/global_common.conf\";\ninclude \"drbd.d/*.res\";\n";

const GLOBAL_COMMON: &str = r#"global {
	usage-count no;
	# minor-count dialog-refresh disable-ip-verification
}

common {
	protocol C;

	handlers {
		pri-on-incon-degr "/usr/lib/drbd/notify-pri-on-incon-degr.sh; /usr/lib/drbd/notify-emergency-reboot.sh; echo b > /proc/sysrq-trigger ; reboot -f";
		pri-lost-after-sb "/usr/lib/drbd/notify-pri-lost-after-sb.sh; /usr/lib/drbd/notify-emergency-reboot.sh; echo b > /proc/sysrq-trigger ; reboot -f";
		local-io-error "/usr/lib/drbd/notify-io-error.sh; /usr/lib/drbd/notify-emergency-shutdown.sh; echo o > /proc/sysrq-trigger ; halt -f";
		# fence-peer "/usr/lib/drbd/crm-fence-peer.sh";
	}

	startup {
		# wfc-timeout degr-wfc-timeout outdated-wfc-timeout wait-after-sb
	}

	disk {
		# on-io-error fencing use-bmbv no-disk-barrier no-disk-flushes
	}

	net {
		after-sb-0pri discard-zero-changes;
		after-sb-1pri discard-secondary;
		after-sb-2pri disconnect;
	}
}
"#;

const R0_RES: &str = r#"resource r0 {
	on node1 {
		device /dev/drbd1;
		disk /dev/sdb1;
		address 192.168.1.101:7789;
		meta-disk internal;
	}
	on node2 {
		device /dev/drbd1;
		disk /dev/sdb1;
		address 192.168.1.102:7789;
		meta-disk internal;
	}
}
"#;

/// A temp dir holding `/etc`-like files, removed on drop.
struct Tree {
    dir: tempfile::TempDir,
}

impl Tree {
    fn new(files: &[(&str, &str)]) -> Tree {
        let dir = tempfile::Builder::new().prefix("drbdnet-cfg-").tempdir().unwrap();
        for (name, text) in files {
            let p = dir.path().join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        Tree { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn load(&self, host: &str) -> Result<Config, ConfigError> {
        Config::load(&self.path("drbd.conf"), host)
    }
}

fn walkthrough() -> Tree {
    Tree::new(&[
        ("drbd.conf", DRBD_CONF),
        ("drbd.d/global_common.conf", GLOBAL_COMMON),
        ("drbd.d/r0.res", R0_RES),
    ])
}

/// A minimal valid resource with options `opts` placed in its body.
fn res(opts: &str) -> String {
    format!(
        "resource r0 {{\n{opts}\n on a {{ device /dev/drbd0; disk /dev/x; address 10.0.0.1:7789; meta-disk internal; }}\n on b {{ device /dev/drbd0; disk /dev/x; address 10.0.0.2:7789; meta-disk internal; }}\n}}\n"
    )
}

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse_str(Path::new("/etc/drbd.d/r0.res"), text, "a")
}

fn err(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

#[test]
fn walkthrough_files_parse_verbatim() {
    let t = walkthrough();
    for host in ["node1", "node2"] {
        let c = t.load(host).unwrap();
        assert_eq!(c.global.usage_count, "no");
        let r = c.resource("r0").unwrap();
        let o = &r.options;
        assert_eq!(o.net.protocol, Protocol::C);
        assert_eq!(o.net.after_sb_0pri, "discard-zero-changes");
        assert_eq!(o.net.after_sb_1pri, "discard-secondary");
        assert_eq!(o.net.after_sb_2pri, "disconnect");
        assert!(o.handlers.get("local-io-error").unwrap().contains("halt -f"));
        assert_eq!(r.hosts.len(), 2);
        assert_eq!(r.local().names, vec![host.to_string()]);
        let peer = r.peers().next().unwrap();
        assert_ne!(peer.names[0], host);
        let v = &r.local().volumes[0];
        assert_eq!((v.device.as_str(), v.minor, v.number), ("/dev/drbd1", 1, 0));
        assert_eq!(v.disk.as_deref(), Some("/dev/sdb1"));
        assert_eq!(v.meta_disk, MetaDisk::Internal);
        assert_eq!(r.local().address.addr.port(), 7789);
        assert_eq!(r.file, t.path("drbd.d/r0.res"));
        assert_eq!(r.line, 1);
    }
}

#[test]
fn walkthrough_dump_is_normalised() {
    let t = walkthrough();
    let c = t.load("node1").unwrap();
    let d = c.dump();
    let expect_head =
        format!("# {}\nglobal {{\n    usage-count      no;\n}}\n", t.path("drbd.conf").display());
    assert!(d.starts_with(&expect_head), "{d}");
    assert!(d.contains("    net {\n        protocol         C;\n        after-sb-0pri    discard-zero-changes;\n"), "{d}");
    assert!(d.contains("# resource r0 on node1: not ignored, not stacked\n"), "{d}");
    assert!(d.contains(&format!("# defined at {}:1\n", t.path("drbd.d/r0.res").display())));
    assert!(d.contains("    on node1 {\n        device           /dev/drbd1 minor 1;\n        disk             /dev/sdb1;\n        meta-disk        internal;\n        address          ipv4 192.168.1.101:7789;\n    }\n"), "{d}");
    assert!(
        d.contains("        pri-on-incon-degr \"/usr/lib/drbd/notify-pri-on-incon-degr.sh;"),
        "{d}"
    );
    // The dump parses again to the same resources.
    let t2 = Tree::new(&[("drbd.conf", &d)]);
    let c2 = t2.load("node1").unwrap();
    assert_eq!(c2.resources[0].options, c.resources[0].options);
    assert_eq!(c2.resources[0].hosts[0].volumes, c.resources[0].hosts[0].volumes);
}

#[test]
fn this_host_must_appear() {
    let t = walkthrough();
    let e = t.load("node3").unwrap_err().to_string();
    assert!(e.contains("r0.res:1: resource r0: no 'on node3' section"), "{e}");
}

#[test]
fn defaults_without_common() {
    let c = parse(&res("")).unwrap();
    let o = &c.resources[0].options;
    assert_eq!(o, &Options::default());
    assert_eq!(o.net.ping_int_s, 10);
    assert_eq!(o.disk.c_max_rate_kib, 102400);
}

#[test]
fn allow_two_primaries_needs_protocol_c() {
    let c = parse(&res("net { protocol C; allow-two-primaries yes; }")).unwrap();
    assert!(c.resources[0].options.net.allow_two_primaries);
    let d = c.dump();
    assert!(d.contains("        allow-two-primaries yes;\n"), "{d}");
    let e = parse(&res("net { protocol A; allow-two-primaries; }")).unwrap_err().to_string();
    assert!(e.contains("allow-two-primaries needs protocol C"), "{e}");
}

#[test]
fn resource_overrides_common_and_units() {
    let text = format!(
        "common {{ net {{ protocol A; max-buffers 8000; }} disk {{ resync-rate 10M; }} }}\n{}",
        res("net { protocol B; sndbuf-size 512k; cram-hmac-alg sha1; shared-secret \"s3cr3t\"; ping-timeout 10; } disk { c-fill-target 1M; al-extents 6433; on-io-error pass_on; } startup { wfc-timeout 30; become-primary-on a; }")
    );
    let c = parse(&text).unwrap();
    let o = &c.resources[0].options;
    assert_eq!(o.net.protocol, Protocol::B);
    assert_eq!(o.net.max_buffers, 8000);
    assert_eq!(o.net.sndbuf_size_bytes, 512 * 1024);
    assert!(!o.net.allow_two_primaries);
    assert_eq!(o.net.shared_secret.as_deref(), Some("s3cr3t"));
    assert_eq!(o.net.ping_timeout_ds, 10);
    assert_eq!(o.disk.resync_rate_kib, 10240);
    assert_eq!(o.disk.c_fill_target_sectors, 2048);
    assert_eq!(o.disk.al_extents, 6433);
    assert_eq!(o.disk.on_io_error, "pass_on");
    assert_eq!(o.startup.wfc_timeout_s, 30);
    let d = c.dump();
    assert!(d.contains("        shared-secret    s3cr3t;\n"), "{d}");
}

#[test]
fn drbd83_negative_flags() {
    let c = parse(&res("disk { no-disk-flushes; no-md-flushes; } net { tcp-cork no; }")).unwrap();
    let o = &c.resources[0].options;
    assert!(!o.disk.disk_flushes && !o.disk.md_flushes && o.disk.disk_drain);
    assert!(o.net.no_tcp_cork);
    let e = err(&res("disk { use-bmbv; }"));
    assert!(e.contains("option 'use-bmbv' in disk section is not supported"), "{e}");
}

#[test]
fn syncer_section_of_drbd83_maps_to_disk_and_net() {
    let c = parse(&res("syncer { rate 100M; verify-alg sha1; al-extents 257; }")).unwrap();
    let o = &c.resources[0].options;
    assert_eq!(o.disk.resync_rate_kib, 102400);
    assert_eq!(o.net.verify_alg.as_deref(), Some("sha1"));
    assert_eq!(o.disk.al_extents, 257);
}

#[test]
fn unknown_keyword_names_file_line_token_section() {
    let e = err(&res("net {\n protocoll C;\n}"));
    assert_eq!(e, "/etc/drbd.d/r0.res:3: unknown keyword 'protocoll' in net section");
    let e = err(&res("frobnicate 1;"));
    assert!(e.contains("unknown keyword 'frobnicate' in resource section"), "{e}");
    let e = err("bogus { }\n");
    assert!(e.contains(":1: unknown keyword 'bogus' in top-level section"), "{e}");
    let e = err("global { usage-counts no; }\n");
    assert!(e.contains("unknown keyword 'usage-counts' in global section"), "{e}");
}

#[test]
fn unsupported_options_are_named() {
    let e = err(&res("net { on-congestion pull-ahead; }"));
    assert!(e.contains("option 'on-congestion' in net section is not supported"), "{e}");
    let e = err(&res("options { quorum majority; }"));
    assert!(e.contains("option 'quorum' in options section is not supported"), "{e}");
    let e = err(&res("connection-mesh { hosts a b; }"));
    assert!(e.contains("'connection-mesh' in resource section is not supported"), "{e}");
    let e = err(&res("disk { read-balancing prefer-local; }"));
    assert!(e.contains("not supported"), "{e}");
}

#[test]
fn invalid_values_and_limits() {
    let cases = [
        ("net { timeout 0; }", "invalid value for 'timeout': value 0 out of range 1..600"),
        ("net { ping-timeout 301; }", "out of range 1..300"),
        ("net { ko-count 201; }", "out of range 0..200"),
        ("net { max-buffers 31; }", "out of range 32..131072"),
        ("net { sndbuf-size 11M; }", "out of range"),
        ("net { protocol D; }", "'D' is not a protocol"),
        ("net { after-sb-1pri discard-zero-changes; }", "is not one of"),
        ("net { cram-hmac-alg md4; shared-secret x; }", "'md4' is not one of"),
        ("disk { al-extents 66; }", "out of range 67..65534"),
        ("disk { resync-rate 10X; }", "unknown unit suffix"),
        ("disk { disk-flushes maybe; }", "'maybe' is not yes or no"),
        ("net { timeout 60 70; }", "too many values"),
        ("net { timeout; }", "missing value"),
        ("net { shared-secret \"0123456789012345678901234567890123456789012345678901234567890123456789\"; cram-hmac-alg sha1; }", "longer than 64"),
        ("net { shared-secret x; }", "cram-hmac-alg and shared-secret must be set together"),
        ("net { timeout 100; }", "timeout must be less than connect-int and ping-int"),
        ("disk { c-min-rate 200M; c-max-rate 100M; }", "c-min-rate is larger"),
        ("startup { become-primary-on c; }", "unknown host 'c'"),
        ("net { timeout { } }", "unexpected section 'timeout' in net section"),
    ];
    for (opts, want) in cases {
        let e = err(&res(opts));
        assert!(e.contains(want), "{opts}: {e}");
        assert!(e.starts_with("/etc/drbd.d/r0.res:"), "{e}");
    }
}

fn host(name: &str, body: &str) -> String {
    format!(" on {name} {{ {body} }}\n")
}

#[test]
fn host_sections() {
    let ok = |body: &str| -> Config {
        let t = format!(
            "resource r {{\n{}{}}}\n",
            host("a", body),
            host("b", "device minor 3; disk /dev/y; meta-disk internal; address 10.0.0.2:7790;")
        );
        parse(&t).unwrap_or_else(|e| panic!("{body}: {e}"))
    };
    let c = ok("device minor 3; disk /dev/x; meta-disk /dev/m [2]; address ipv4 10.0.0.1:7790;");
    let v = &c.resources[0].local().volumes[0];
    assert_eq!((v.device.as_str(), v.minor), ("/dev/drbd3", 3));
    assert_eq!(v.meta_disk, MetaDisk::External { path: "/dev/m".into(), index: Some(2) });
    let c = ok("device /dev/drbd_web minor 3; disk none; address 10.0.0.1:7790;");
    let v = &c.resources[0].local().volumes[0];
    assert_eq!((v.device.as_str(), v.disk.as_deref()), ("/dev/drbd_web", None));
    let c = ok("device /dev/drbd3; disk /dev/x; meta-disk /dev/m[0]; address 10.0.0.1:7790;");
    assert!(c.dump().contains("meta-disk        /dev/m [0];"));

    let t = "resource r {\n on a { device minor 1; disk /dev/x; meta-disk internal; address ipv6 [fd01::1]:7789; }\n on b { device minor 1; disk /dev/x; meta-disk internal; address ipv6 [fd01::2]:7789; }\n}\n";
    let c = parse(t).unwrap();
    assert_eq!(c.resources[0].local().address.family, AddressFamily::Ipv6);
    assert!(c.dump().contains("address          ipv6 [fd01::1]:7789;"), "{}", c.dump());
}

#[test]
fn host_errors() {
    let two = |a: &str, b: &str| format!("resource r {{\n{}{}}}\n", host("a", a), host("b", b));
    let good = "device minor 1; disk /dev/x; meta-disk internal; address 10.0.0.2:7789;";
    let cases = [
        ("device minor 1; disk /dev/x; meta-disk internal;", "host a has no 'address'"),
        ("device minor 1; disk /dev/x; address 10.0.0.1:7789;", "volume 0: no 'meta-disk'"),
        ("disk /dev/x; meta-disk internal; address 10.0.0.1:7789;", "volume 0: no 'device'"),
        (
            "device /dev/sdz; disk /dev/x; meta-disk internal; address 10.0.0.1:7789;",
            "cannot derive a minor",
        ),
        (
            "device drbd1; disk /dev/x; meta-disk internal; address 10.0.0.1:7789;",
            "not an absolute",
        ),
        ("device minor 1; disk /dev/x; meta-disk internal; address 10.0.0.1:0;", "port 0"),
        ("device minor 1; disk /dev/x; meta-disk internal; address 10.0.0.1;", "is not IP:PORT"),
        (
            "device minor 1; disk /dev/x; meta-disk internal; address 0.0.0.0:7789;",
            "cannot be a peer address",
        ),
        (
            "device minor 1; disk /dev/x; meta-disk internal; address ipv6 10.0.0.1:7789;",
            "does not match the address family",
        ),
        (
            "device minor 1; disk /dev/x; meta-disk internal; address sdp 10.0.0.1:7789;",
            "'sdp' is not supported",
        ),
        (
            "device minor 1; disk /dev/x; meta-disk internal; address 10.0.0.2:7789;",
            "hosts share the address",
        ),
        ("device minor 1; disk /dev/x; meta-disk /dev/m[x]; address 10.0.0.1:7789;", "bad index"),
        (
            "device minor 1; disk /dev/x; meta-disk internal; address 10.0.0.1:7789; nodeid 1;",
            "unknown keyword 'nodeid' in on section",
        ),
        (
            "device minor 1; disk /dev/x; meta-disk internal; address 10.0.0.1:7789; node-id 1;",
            "node-id must be given for every host",
        ),
    ];
    for (body, want) in cases {
        let e = err(&two(body, good));
        assert!(e.contains(want), "{body}: {e}");
    }
    let e = err(&format!("resource r {{\n{}}}\n", host("a", good)));
    assert!(e.contains("needs exactly two hosts, found 1"), "{e}");
    let three = format!(
        "resource r {{\n{}{}{}}}\n",
        host("a", "device minor 1; disk /dev/x; meta-disk internal; address 10.0.0.1:7789;"),
        host("b", good),
        host("c", "device minor 1; disk /dev/x; meta-disk internal; address 10.0.0.3:7789;")
    );
    assert!(err(&three).contains("needs exactly two hosts, found 3"));
    let with_ids = three.replace("7789;", "7789; node-id X;");
    let mut n = 0;
    let with_ids: String = with_ids
        .split('X')
        .enumerate()
        .map(|(i, p)| {
            n = i;
            if i == 0 {
                p.to_string()
            } else {
                format!("{}{p}", i - 1)
            }
        })
        .collect();
    let c = parse(&with_ids).unwrap();
    assert_eq!(c.resources[0].hosts[2].node_id, Some(2));
}

#[test]
fn resource_level_device_disk_inherited_and_volumes() {
    let t = "resource r {\n device minor 7; disk /dev/x; meta-disk internal;\n volume 1 { device minor 8; disk /dev/y; meta-disk internal; }\n on a { address 10.0.0.1:7789; }\n on b { disk /dev/z; address 10.0.0.2:7789; }\n}\n";
    let c = Config::parse_str(Path::new("/r"), t, "b").unwrap();
    let r = &c.resources[0];
    let b = r.local();
    assert_eq!(b.volumes.len(), 2);
    assert_eq!(b.volumes[0].disk.as_deref(), Some("/dev/z"));
    assert_eq!(b.volumes[0].minor, 7);
    assert_eq!(b.volumes[1].minor, 8);
    assert!(b.volumes[1].explicit);
    assert_eq!(r.hosts[0].volumes[0].disk.as_deref(), Some("/dev/x"));
    assert!(c
        .dump()
        .contains("        volume 1 {\n            device           /dev/drbd8 minor 8;"));
}

#[test]
fn floating_host_matches_local_address() {
    let t = "resource r {\n device minor 1; disk /dev/x; meta-disk internal;\n floating 127.0.0.1:7789 { }\n floating ipv4 10.213.77.2:7789 { }\n}\n";
    let c = Config::parse_str(Path::new("/r"), t, "nobody").unwrap();
    assert_eq!(c.resources[0].this_host, 0);
    assert!(c.dump().contains("    floating ipv4 127.0.0.1:7789 {"));
}

#[test]
fn duplicates_refused() {
    let r1 = res("");
    let e = err(&format!("{r1}{r1}"));
    assert!(e.contains("resource 'r0' is already defined at /etc/drbd.d/r0.res:1"), "{e}");
    let r2 = r1.replace("r0", "r1").replace(":7789", ":7790");
    let e = err(&format!("{r1}{r2}"));
    assert!(e.contains("minor 0 of resource r1 is already used by resource r0"), "{e}");
    let r3 = r1.replace("r0", "r1").replace("drbd0", "drbd5");
    let e = err(&format!("{r1}{r3}"));
    assert!(
        e.contains("address 10.0.0.1:7789 of resource r1 is already used by resource r0"),
        "{e}"
    );
    let e = err("global { }\nglobal { }\n");
    assert!(e.contains(":2: a second global section"), "{e}");
}

#[test]
fn includes_sorted_relative_and_guarded() {
    let t = Tree::new(&[
        ("drbd.conf", "include \"d/*.res\";\ninclude \"d/none-*.conf\";\n"),
        (
            "d/b.res",
            &res("").replace("r0", "rb").replace("drbd0", "drbd2").replace(":7789", ":7791"),
        ),
        ("d/a.res", &res("").replace("r0", "ra")),
        ("d/a.res~", "garbage"),
        ("d/.hidden.res", "garbage"),
    ]);
    let c = t.load("a").unwrap();
    let names: Vec<&str> = c.resources.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["ra", "rb"]);
    assert_eq!(c.resources[1].file, t.path("d/b.res"));

    let t = Tree::new(&[
        ("drbd.conf", "include \"x.conf\";\n"),
        ("x.conf", "\ninclude \"drbd.conf\";\n"),
    ]);
    let e = t.load("a").unwrap_err().to_string();
    assert!(e.contains("x.conf:2: include of") && e.contains("would recurse"), "{e}");

    let t = Tree::new(&[("drbd.conf", "include \"missing.conf\";\n")]);
    let e = t.load("a").unwrap_err().to_string();
    assert!(
        e.contains("drbd.conf:1: invalid value for 'include': cannot read 'missing.conf'"),
        "{e}"
    );

    let t = Tree::new(&[
        ("drbd.conf", "include \"x.conf\";\n"),
        ("x.conf", "resource r0 {\n on a { disk /dev/x }\n}\n"),
    ]);
    let e = t.load("a").unwrap_err().to_string();
    assert!(e.starts_with(&format!("{}:2:", t.path("x.conf").display())), "{e}");

    let e = Config::load(Path::new("/nonexistent-drbdnet/drbd.conf"), "a").unwrap_err();
    assert!(matches!(e, ConfigError::Io { .. }));
}

#[test]
fn skip_sections_and_comments_ignored() {
    let t = format!("skip {{ this is not parsed {{ at all; }} }}\n# resource x\n{}", res(""));
    assert_eq!(parse(&t).unwrap().resources.len(), 1);
}

#[test]
fn hostname_override_from_env() {
    // Only reads; other tests pass the name explicitly.
    let h = local_hostname();
    assert!(!h.is_empty());
}

/// Other layouts of the same walkthrough step seen in the wild: protocol inside `net`
/// (8.4 style), the 8.3 style with `syncer` and per-resource `protocol`, and Debian's stock
/// global_common.conf with its empty sections.
#[test]
fn walkthrough_variants_parse() {
    let net_style = "global {\n  usage-count no;\n}\ncommon {\n  net {\n    protocol C;\n    after-sb-0pri discard-zero-changes;\n    after-sb-1pri discard-secondary;\n    after-sb-2pri disconnect;\n  }\n}\n";
    let old_style = "global { usage-count no; }\ncommon { syncer { rate 100M; } }\n";
    let old_res = "resource r0 {\n  protocol C;\n  startup {\n    wfc-timeout 15;\n    degr-wfc-timeout 60;\n  }\n  net {\n    cram-hmac-alg sha1;\n    shared-secret \"secret\";\n  }\n  on node1 {\n    device /dev/drbd0;\n    disk /dev/sdb1;\n    address 10.0.0.1:7788;\n    meta-disk internal;\n  }\n  on node2 {\n    device /dev/drbd0;\n    disk /dev/sdb1;\n    address 10.0.0.2:7788;\n    meta-disk internal;\n  }\n}\n";
    let debian_stock = "# DRBD is the result of over a decade of development by LINBIT.\n\
# In case you need professional services for DRBD or have\n# feature requests visit http://www.linbit.com\n\n\
global {\n\tusage-count yes;\n\n\t# Decide what kind of udev symlinks you want for \"implicit\" volumes\n\
\t# (those without explicit volume <vnr> {} block, implied vnr=0):\n\t# /dev/drbd/by-resource/<resource>/<vnr>   (explicit volumes)\n\
\t# /dev/drbd/by-resource/<resource>         (default for implict)\n\tudev-always-use-vnr; # treat implicit the same as explicit volumes\n\n\
\t# minor-count dialog-refresh disable-ip-verification\n\t# cmd-timeout-short 5; cmd-timeout-medium 121; cmd-timeout-long 600;\n}\n\n\
common {\n\thandlers {\n\t\t# These are EXAMPLE handlers only.\n\t\t# fence-peer \"/usr/lib/drbd/crm-fence-peer.sh\";\n\t}\n\n\
\tstartup {\n\t\t# wfc-timeout degr-wfc-timeout outdated-wfc-timeout wait-after-sb\n\t}\n\n\
\toptions {\n\t\t# cpu-mask on-no-data-accessible\n\t}\n\n\
\tdisk {\n\t\t# size on-io-error fencing disk-barrier disk-flushes\n\t}\n\n\
\tnet {\n\t\t# protocol timeout max-epoch-size max-buffers\n\t}\n}\n";
    let t = Tree::new(&[
        ("drbd.conf", DRBD_CONF),
        ("drbd.d/global_common.conf", net_style),
        ("drbd.d/r0.res", R0_RES),
    ]);
    let c = t.load("node2").unwrap();
    assert_eq!(c.resources[0].options.net.after_sb_1pri, "discard-secondary");

    let t = Tree::new(&[
        ("drbd.conf", DRBD_CONF),
        ("drbd.d/global_common.conf", old_style),
        ("drbd.d/r0.res", old_res),
    ]);
    let c = t.load("node1").unwrap();
    let o = &c.resources[0].options;
    assert_eq!(o.disk.resync_rate_kib, 100 * 1024);
    assert_eq!((o.startup.wfc_timeout_s, o.startup.degr_wfc_timeout_s), (15, 60));
    assert_eq!(o.net.cram_hmac_alg.as_deref(), Some("sha1"));
    assert_eq!(c.resources[0].local().volumes[0].minor, 0);

    let t = Tree::new(&[
        ("drbd.conf", DRBD_CONF),
        ("drbd.d/global_common.conf", debian_stock),
        ("drbd.d/r0.res", R0_RES),
    ]);
    let c = t.load("node1").unwrap();
    assert_eq!(c.global.usage_count, "yes");
    assert!(c.global.udev_always_use_vnr);
    assert_eq!(c.resources[0].options, Options::default());
}
