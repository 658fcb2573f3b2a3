//! Tests on real files (ext4 under the temp dir supports O_DIRECT).

use std::path::PathBuf;

use super::*;

struct TempDisk {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

fn temp_file(size: u64) -> TempDisk {
    let dir = tempfile::Builder::new().prefix("drbdnet-io-").tempdir().unwrap();
    let path = dir.path().join("backing");
    let f = File::create(&path).unwrap();
    f.set_len(size).unwrap();
    TempDisk { _dir: dir, path }
}

fn open(t: &TempDisk, qd: u16) -> UringDisk {
    UringDisk::open(
        &t.path,
        UringConfig { queue_depth: qd, buf_bytes: 64 * 1024, read_only: false },
    )
    .unwrap()
}

fn wait(d: &mut UringDisk) -> DiskCompletion {
    d.wait_completion().unwrap().expect("an operation in flight")
}

struct Prng(u64);
impl Prng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn write_then_read_back() {
    let t = temp_file(1 << 20);
    let mut d = open(&t, 4);
    assert_eq!(d.size_bytes(), 1 << 20);
    let a = d.alignment();
    assert!(a.is_power_of_two() && (512..=4096).contains(&a));
    let b = d.take_buf().unwrap();
    d.buf_mut(b)[..8192].iter_mut().enumerate().for_each(|(i, x)| *x = (i % 251) as u8);
    d.submit(DiskOp::write(7, 8192, 8192, b)).unwrap();
    let c = wait(&mut d);
    assert_eq!((c.tag, c.kind, c.buf, c.result), (7, OpKind::Write, Some(b), Ok(8192)));
    d.buf_mut(b).fill(0);
    d.submit(DiskOp::read(8, 8192, 8192, b)).unwrap();
    assert_eq!(wait(&mut d).result, Ok(8192));
    assert!(d.buf(b)[..8192].iter().enumerate().all(|(i, x)| *x == (i % 251) as u8));
    // The bytes really are in the file.
    let raw = std::fs::read(&t.path).unwrap();
    assert_eq!(raw[8192 + 300], (300 % 251) as u8);
    assert!(d.wait_completion().unwrap().is_none());
}

#[test]
fn qd32_random_writes_and_reads_match_model() {
    const BLK: u64 = 4096;
    const BLOCKS: u64 = 256;
    let t = temp_file(BLK * BLOCKS);
    let mut d = open(&t, 32);
    let mut model = vec![0u8; BLOCKS as usize]; // fill byte per block
    let mut rng = Prng(0x1234_5678_9abc_def1);
    let mut bufs: Vec<BufId> = (0..32).map(|_| d.take_buf().unwrap()).collect();
    assert!(d.take_buf().is_none(), "pool holds queue_depth buffers");
    let mut max_in_flight = 0;
    for round in 0..20 {
        // 32 writes to distinct blocks in flight at once.
        let mut blocks: Vec<u64> = Vec::new();
        while blocks.len() < 32 {
            let b = rng.next() % BLOCKS;
            if !blocks.contains(&b) {
                blocks.push(b);
            }
        }
        for (i, blk) in blocks.iter().enumerate() {
            let fill = (rng.next() % 255 + 1) as u8;
            let buf = bufs[i];
            d.buf_mut(buf)[..BLK as usize].fill(fill);
            model[*blk as usize] = fill;
            let kind = if round % 3 == 0 { OpKind::WriteFua } else { OpKind::Write };
            let op = DiskOp {
                tag: *blk,
                kind,
                offset_bytes: blk * BLK,
                len_bytes: BLK as u32,
                buf: Some(buf),
            };
            d.submit(op).unwrap();
        }
        max_in_flight = max_in_flight.max(d.in_flight());
        // All 32 go to the kernel in one batch.
        assert_eq!(d.submit_pending().unwrap(), 32);
        assert_eq!(d.submit_pending().unwrap(), 0);
        let mut done = 0;
        while done < 32 {
            let c = wait(&mut d);
            assert_eq!(c.result, Ok(BLK as u32));
            done += 1;
        }
        // Read back 32 random blocks at QD 32 and compare with the model.
        let reads: Vec<u64> = (0..32).map(|_| rng.next() % BLOCKS).collect();
        for (i, blk) in reads.iter().enumerate() {
            d.submit(DiskOp::read(i as u64, blk * BLK, BLK as u32, bufs[i])).unwrap();
        }
        for _ in 0..32 {
            let c = wait(&mut d);
            assert_eq!(c.result, Ok(BLK as u32));
            let blk = reads[c.tag as usize];
            let data = &d.buf(c.buf.unwrap())[..BLK as usize];
            assert!(data.iter().all(|x| *x == model[blk as usize]), "block {blk}");
        }
    }
    assert_eq!(max_in_flight, 32);
    for b in bufs.drain(..) {
        d.put_buf(b);
    }
}

#[test]
fn full_queue_hands_op_back() {
    let t = temp_file(1 << 20);
    let mut d = open(&t, 2);
    let (b0, b1) = (d.take_buf().unwrap(), d.take_buf().unwrap());
    d.submit(DiskOp::write(1, 0, 4096, b0)).unwrap();
    d.submit(DiskOp::write(2, 4096, 4096, b1)).unwrap();
    let op = DiskOp::flush(3);
    let r = d.submit(op).unwrap_err();
    assert_eq!(r, Rejected { op, reason: RejectReason::QueueFull });
    // A buffer in flight is refused too.
    let again = DiskOp::read(4, 0, 4096, b0);
    assert_eq!(d.submit(again).unwrap_err().reason, RejectReason::BufferBusy);
    wait(&mut d);
    d.submit(r.op).unwrap();
    while d.in_flight() > 0 {
        assert!(wait(&mut d).result.is_ok());
    }
}

#[test]
fn flush_and_fua_complete() {
    let t = temp_file(1 << 20);
    let mut d = open(&t, 4);
    let b = d.take_buf().unwrap();
    d.buf_mut(b)[..4096].fill(0xab);
    d.submit(DiskOp {
        tag: 1,
        kind: OpKind::WriteFua,
        offset_bytes: 0,
        len_bytes: 4096,
        buf: Some(b),
    })
    .unwrap();
    assert_eq!(wait(&mut d).result, Ok(4096));
    d.submit(DiskOp::flush(2)).unwrap();
    let c = wait(&mut d);
    assert_eq!((c.tag, c.kind, c.buf, c.result), (2, OpKind::Flush, None, Ok(0)));
    assert_eq!(std::fs::read(&t.path).unwrap()[4095], 0xab);
}

#[test]
fn invalid_ops_refused_with_reason() {
    let t = temp_file(1 << 20);
    let mut d = open(&t, 4);
    let a = d.alignment();
    let b = d.take_buf().unwrap();
    let cases = [
        (DiskOp::write(1, 1, a, b), RejectReason::Unaligned { alignment: a }),
        (DiskOp::write(1, 0, a + 1, b), RejectReason::Unaligned { alignment: a }),
        (DiskOp::read(1, 0, 0, b), RejectReason::Unaligned { alignment: a }),
        (DiskOp::read(1, 0, 128 * 1024, b), RejectReason::TooLarge { max_bytes: 64 * 1024 }),
        (DiskOp::read(1, 0, a, BufId(99)), RejectReason::BadBuffer),
        (DiskOp { buf: None, ..DiskOp::read(1, 0, a, b) }, RejectReason::BadBuffer),
    ];
    for (op, reason) in cases {
        let r = d.submit(op).unwrap_err();
        assert_eq!((r.op, r.reason), (op, reason));
        assert!(!r.to_string().is_empty());
    }
    assert_eq!(d.in_flight(), 0, "nothing was queued");
    assert!(RejectReason::Unaligned { alignment: 512 }.to_string().contains("multiples of 512"));
}

#[test]
fn io_errors_reported() {
    let t = temp_file(64 * 1024);
    let mut d = open(&t, 4);
    let b = d.take_buf().unwrap();
    // Read beyond the end: short transfer.
    d.submit(DiskOp::read(1, 1 << 20, 4096, b)).unwrap();
    let c = wait(&mut d);
    assert_eq!(c.result, Err(DiskError::Short { expected_bytes: 4096, done_bytes: 0 }));
    assert_eq!(c.result.unwrap_err().errno(), libc::EIO);
    drop(d);
    // A write on a read-only descriptor fails with EBADF.
    let mut d = UringDisk::open(&t.path, UringConfig { read_only: true, ..UringConfig::default() })
        .unwrap();
    let b = d.take_buf().unwrap();
    d.submit(DiskOp::write(2, 0, 4096, b)).unwrap();
    let c = wait(&mut d);
    assert_eq!(c.result, Err(DiskError::Os { errno: libc::EBADF }));
    assert!(c.result.unwrap_err().to_string().contains("Bad file descriptor"));
}

#[test]
fn open_errors() {
    let t = temp_file(4096);
    let bad = UringConfig { queue_depth: 0, ..UringConfig::default() };
    assert!(UringDisk::open(&t.path, bad).is_err());
    let bad = UringConfig { buf_bytes: 1000, ..UringConfig::default() };
    assert!(UringDisk::open(&t.path, bad).is_err());
    let e =
        UringDisk::open(Path::new("/nonexistent-drbdnet/x"), UringConfig::default()).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
}

#[test]
fn drop_with_ops_in_flight_waits() {
    let t = temp_file(1 << 20);
    let mut d = open(&t, 8);
    for i in 0..8u64 {
        let b = d.take_buf().unwrap();
        d.submit(DiskOp::write(i, i * 65536, 65536, b)).unwrap();
    }
    d.submit_pending().unwrap();
    drop(d); // must not free buffers under the kernel
    assert_eq!(std::fs::metadata(&t.path).unwrap().len(), 1 << 20);
}

#[test]
fn disk_is_send() {
    fn is_send<T: Send>() {}
    is_send::<UringDisk>();
}

/// Throughput figure for reports: `cargo test -p drbd-ublk measure_ -- --ignored --nocapture`.
#[test]
#[ignore]
#[allow(clippy::disallowed_methods)]
fn measure_qd32_4k_random_write_iops() {
    const BLOCKS: u64 = 16384; // 64 MiB
    let t = temp_file(4096 * BLOCKS);
    let mut d = open(&t, 32);
    let bufs: Vec<BufId> = (0..32).map(|_| d.take_buf().unwrap()).collect();
    let mut free = bufs.clone();
    let mut rng = Prng(42);
    let total = 100_000u64;
    let (mut sent, mut done) = (0u64, 0u64);
    let start = std::time::Instant::now();
    while done < total {
        while sent < total {
            let Some(b) = free.pop() else { break };
            let off = (rng.next() % BLOCKS) * 4096;
            d.submit(DiskOp::write(sent, off, 4096, b)).unwrap();
            sent += 1;
        }
        let c = wait(&mut d);
        assert!(c.result.is_ok());
        free.push(c.buf.unwrap());
        done += 1;
        while let Some(c) = d.poll_completion() {
            free.push(c.buf.unwrap());
            done += 1;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "4k random write QD32 O_DIRECT: {:.0} IOPS ({total} ops in {secs:.2} s)",
        total as f64 / secs
    );
}

/// Another thread waits on the ring through a [`RingWaiter`]: a completion wakes it, a kick
/// wakes it (and is not seen as a completion), and with nothing happening it returns after
/// its timeout.
#[test]
#[allow(clippy::disallowed_methods)]
fn ring_waiter_wakes_on_completions_and_kicks() {
    use std::time::{Duration, Instant};
    let t = temp_file(1 << 20);
    let mut d = open(&t, 4);
    let w = std::sync::Arc::new(d.waiter().unwrap());
    let long = Duration::from_secs(10);

    let t0 = Instant::now();
    w.wait(Duration::from_millis(30));
    assert!(t0.elapsed() >= Duration::from_millis(25), "an idle ring waits for the timeout");

    let waiting = std::sync::Arc::clone(&w);
    let h = std::thread::spawn(move || {
        let t0 = Instant::now();
        waiting.wait(long);
        t0.elapsed()
    });
    std::thread::sleep(Duration::from_millis(50));
    d.kick();
    assert!(h.join().unwrap() < Duration::from_secs(5), "a kick wakes the waiter");
    assert!(d.poll_completion().is_none(), "the kick is not a completion");
    assert_eq!(d.in_flight(), 0);

    let b = d.take_buf().unwrap();
    d.submit(DiskOp::write(7, 0, 4096, b)).unwrap();
    d.submit_pending().unwrap();
    let t0 = Instant::now();
    w.wait(long);
    assert!(t0.elapsed() < Duration::from_secs(5), "a completion wakes the waiter");
    let c = d.poll_completion().expect("the write completed");
    assert_eq!(c.tag, 7);
    c.result.unwrap();
}
