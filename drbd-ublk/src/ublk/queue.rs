//! One ublk queue: the io_uring thread libublk drives and the worker threads that call the
//! blocking [`BlockBackend`].
//!
//! # Mechanism
//! The queue thread owns the queue's io_uring (libublk's model). For every request the
//! driver hands over (a completed `FETCH`/`COMMIT_AND_FETCH` command for one tag) it reads the
//! descriptor, answers at once what needs no backend (out-of-range, unsupported, a write to a
//! read-only device) and queues the rest as a [`Job`] for the workers. A worker calls the
//! backend, pushes `(tag, result)` into the completion list and, when that list was empty,
//! writes the queue's `eventfd`. The queue thread keeps one `POLL_ADD` on that eventfd in its
//! ring; when it fires it drains the completion list, commits each result (which also fetches
//! the tag's next request) and arms the poll again. So up to `workers` requests are in the
//! backend at once, and the queue thread never blocks on the backend.
//!
//! # Invariants
//! * A tag's buffer belongs to the request of that tag from the moment the driver hands it
//!   over until its commit: exactly one worker touches it in between, the queue thread does
//!   not.
//! * The job queue and the completion list hold at most `depth` entries each (a tag is in at
//!   most one of them at a time) and are allocated once, so the data path does not allocate.
//! * `FLUSH` is classified before any range check: the driver leaves its start sector
//!   undefined.
//! * The workers are scoped threads of the queue thread and are joined before the buffers
//!   are freed. The eventfd is polled, not read through the ring, so a late wake-up never
//!   writes into freed memory.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use libublk::io::{BufDescList, UblkDev, UblkIOCtx, UblkQueue};
use libublk::{sys, BufDesc, UblkIORes};

use crate::fuse::backend::Counters;
use crate::fuse::BlockBackend;

/// The user-data op code of the eventfd poll (not a ublk op).
const EVENTFD_OP: u32 = 0xfe;

/// What every queue of a device shares.
pub(crate) struct Shared {
    pub(crate) backend: Arc<dyn BlockBackend>,
    /// Secondary: writes are refused with `EROFS`.
    pub(crate) read_only: AtomicBool,
    pub(crate) counters: Counters,
    /// Worker threads per queue.
    pub(crate) workers: usize,
}

/// The operation of a request, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Read,
    Write { fua: bool },
    Flush,
    Discard,
    WriteZeroes,
}

/// One request for a worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Job {
    pub(crate) tag: u16,
    pub(crate) op: Op,
    /// Byte offset (0 for a flush).
    pub(crate) off: u64,
    /// Byte length (0 for a flush).
    pub(crate) len: u64,
}

/// How the queue thread deals with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Complete at once with this result (negative errno).
    Answer(i32),
    /// Hand to a worker.
    Dispatch(Job),
}

/// Decodes one request descriptor. `size` is the device size in bytes, `buf_len` the tag's
/// buffer size.
pub(crate) fn classify(
    tag: u16,
    op_flags: u32,
    start_sector: u64,
    nr_sectors: u32,
    size: u64,
    buf_len: usize,
    read_only: bool,
) -> Decision {
    let code = op_flags & 0xff;
    // FLUSH first: its start sector is garbage and must not meet the range check.
    if code == sys::UBLK_IO_OP_FLUSH {
        return Decision::Dispatch(Job { tag, op: Op::Flush, off: 0, len: 0 });
    }
    let op = match code {
        sys::UBLK_IO_OP_READ => Op::Read,
        sys::UBLK_IO_OP_WRITE => Op::Write { fua: op_flags & sys::UBLK_IO_F_FUA != 0 },
        sys::UBLK_IO_OP_DISCARD => Op::Discard,
        sys::UBLK_IO_OP_WRITE_ZEROES => Op::WriteZeroes,
        _ => return Decision::Answer(-libc::EOPNOTSUPP),
    };
    let (Some(off), len) = (start_sector.checked_mul(512), u64::from(nr_sectors) * 512) else {
        return Decision::Answer(-libc::EIO);
    };
    if len == 0 || !off.checked_add(len).is_some_and(|end| end <= size) {
        return Decision::Answer(-libc::EIO);
    }
    if matches!(op, Op::Read | Op::Write { .. }) && len > buf_len as u64 {
        return Decision::Answer(-libc::EINVAL);
    }
    if read_only && op != Op::Read {
        return Decision::Answer(-libc::EROFS);
    }
    Decision::Dispatch(Job { tag, op, off, len })
}

/// A tag's I/O buffer as the workers see it.
#[derive(Clone, Copy)]
struct BufPtr(*mut u8, usize);

// SAFETY: the pointer is the start of a heap buffer that outlives the workers (they are
// joined before the buffers drop), and a tag's buffer is touched by one thread at a time
// (see the module invariants).
unsafe impl Send for BufPtr {}
// SAFETY: as above; the table of pointers itself is never written after creation.
unsafe impl Sync for BufPtr {}

/// The job queue and completion list between the queue thread and its workers.
struct Pool {
    jobs: Mutex<(VecDeque<Job>, bool)>,
    job_ready: Condvar,
    done: Mutex<Vec<(u16, i32)>>,
    eventfd: OwnedFd,
}

impl Pool {
    fn new(depth: usize) -> io::Result<Pool> {
        // SAFETY: eventfd has no memory arguments; the returned descriptor is checked.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor that nothing else owns.
        let eventfd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Pool {
            jobs: Mutex::new((VecDeque::with_capacity(depth), false)),
            job_ready: Condvar::new(),
            done: Mutex::new(Vec::with_capacity(depth)),
            eventfd,
        })
    }

    fn push(&self, job: Job) {
        let mut g = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        g.0.push_back(job);
        drop(g);
        self.job_ready.notify_one();
    }

    /// The next job, or `None` once closed.
    fn pop(&self) -> Option<Job> {
        let mut g = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(j) = g.0.pop_front() {
                return Some(j);
            }
            if g.1 {
                return None;
            }
            g = self.job_ready.wait(g).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn close(&self) {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner()).1 = true;
        self.job_ready.notify_all();
    }

    fn complete(&self, tag: u16, res: i32) {
        let mut g = self.done.lock().unwrap_or_else(|e| e.into_inner());
        let was_empty = g.is_empty();
        g.push((tag, res));
        drop(g);
        if was_empty {
            let one: u64 = 1;
            // SAFETY: writes 8 bytes from a live local to an eventfd this pool owns.
            let _ =
                unsafe { libc::write(self.eventfd.as_raw_fd(), (&one as *const u64).cast(), 8) };
        }
    }

    /// Resets the eventfd and moves the completions into `out` (which has room for them).
    fn take(&self, out: &mut Vec<(u16, i32)>) {
        let mut v: u64 = 0;
        // SAFETY: reads 8 bytes into a live local from an eventfd this pool owns
        // (non-blocking: EAGAIN when nothing was signalled).
        let _ = unsafe { libc::read(self.eventfd.as_raw_fd(), (&mut v as *mut u64).cast(), 8) };
        let mut g = self.done.lock().unwrap_or_else(|e| e.into_inner());
        out.append(&mut g);
    }
}

fn errno_of(e: &io::Error) -> i32 {
    e.raw_os_error().filter(|&n| n > 0).unwrap_or(libc::EIO)
}

/// Runs one job against the backend; the result to commit.
fn execute(shared: &Shared, job: &Job, buf: BufPtr) -> i32 {
    let b = &*shared.backend;
    let c = &shared.counters;
    let len = job.len as usize;
    let r = match job.op {
        Op::Read => {
            debug_assert!(len <= buf.1);
            // SAFETY: the tag's buffer is `buf.1` bytes long (len was checked against it) and
            // belongs to this request until its commit (module invariants).
            let s = unsafe { std::slice::from_raw_parts_mut(buf.0, len) };
            c.reads.fetch_add(1, Ordering::Relaxed);
            c.bytes_read.fetch_add(job.len, Ordering::Relaxed);
            b.read_at(s, job.off).map(|_| len as i32)
        }
        Op::Write { fua } => {
            debug_assert!(len <= buf.1);
            // SAFETY: as for reads; the driver copied the data in before handing it over.
            let s = unsafe { std::slice::from_raw_parts(buf.0, len) };
            c.writes.fetch_add(1, Ordering::Relaxed);
            c.bytes_written.fetch_add(job.len, Ordering::Relaxed);
            b.write_at(s, job.off)
                .and_then(|_| if fua { b.flush() } else { Ok(()) })
                .map(|_| len as i32)
        }
        Op::Flush => {
            c.flushes.fetch_add(1, Ordering::Relaxed);
            b.flush().map(|_| 0)
        }
        Op::Discard => {
            c.discards.fetch_add(1, Ordering::Relaxed);
            b.discard(job.off, job.len).map(|_| 0)
        }
        Op::WriteZeroes => {
            c.write_zeroes.fetch_add(1, Ordering::Relaxed);
            b.write_zeroes(job.off, job.len).map(|_| 0)
        }
    };
    match r {
        Ok(n) => n,
        Err(e) => {
            let n = errno_of(&e);
            if n == libc::EROFS {
                c.refused_read_only.fetch_add(1, Ordering::Relaxed);
            } else {
                c.errors.fetch_add(1, Ordering::Relaxed);
            }
            -n
        }
    }
}

fn arm_eventfd(q: &UblkQueue, pool: &Pool) {
    let sqe = io_uring::opcode::PollAdd::new(
        io_uring::types::Fd(pool.eventfd.as_raw_fd()),
        libc::POLLIN as u32,
    )
    .build()
    .user_data(UblkIOCtx::build_user_data(0, EVENTFD_OP, 0, true));
    if let Err(e) = q.ublk_submit_sqe_sync(sqe) {
        eprintln!("drbd-ublk: ublk queue {}: arming the eventfd poll: {e}", q.get_qid());
    }
}

/// The body of one queue thread (called by libublk's `run_target` in its own thread).
pub(crate) fn run_queue(qid: u16, dev: &UblkDev, shared: &Shared) {
    let depth = dev.dev_info.queue_depth as usize;
    let size = dev.tgt.dev_size;
    let bufs = dev.alloc_queue_io_bufs();
    let ptrs: Vec<BufPtr> = bufs.iter().map(|b| BufPtr(b.as_mut_ptr(), b.len())).collect();
    let pool = match Pool::new(depth) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("drbd-ublk: ublk queue {qid}: eventfd: {e}");
            return;
        }
    };
    std::thread::scope(|s| {
        for i in 0..shared.workers {
            let (pool, ptrs) = (&pool, &ptrs);
            let spawned = std::thread::Builder::new()
                .name(format!("ublk-q{qid}-w{i}"))
                .spawn_scoped(s, move || {
                    while let Some(job) = pool.pop() {
                        let res = execute(shared, &job, ptrs[job.tag as usize]);
                        pool.complete(job.tag, res);
                    }
                });
            if let Err(e) = spawned {
                eprintln!("drbd-ublk: ublk queue {qid}: worker thread: {e}");
                break;
            }
        }
        let queue = UblkQueue::new(qid, dev)
            .and_then(|q| q.submit_fetch_commands_unified(BufDescList::Slices(Some(&bufs))));
        match queue {
            Ok(q) => serve(&q, &pool, shared, &bufs, size),
            Err(e) => eprintln!("drbd-ublk: ublk queue {qid}: setup: {e}"),
        }
        pool.close();
    });
}

fn serve(
    q: &UblkQueue,
    pool: &Pool,
    shared: &Shared,
    bufs: &[libublk::helpers::IoBuf<u8>],
    size: u64,
) {
    let mut done: Vec<(u16, i32)> = Vec::with_capacity(bufs.len());
    let commit = |q: &UblkQueue, tag: u16, res: i32| {
        let r = q.complete_io_cmd_unified(
            tag,
            BufDesc::Slice(bufs[tag as usize].as_slice()),
            Ok(UblkIORes::Result(res)),
        );
        if let Err(e) = r {
            eprintln!("drbd-ublk: ublk queue {}: commit tag {tag}: {e}", q.get_qid());
        }
    };
    arm_eventfd(q, pool);
    q.wait_and_handle_io(|q, tag, io| {
        if io.is_tgt_io() {
            if UblkIOCtx::user_data_to_op(io.user_data()) == EVENTFD_OP {
                pool.take(&mut done);
                for (tag, res) in done.drain(..) {
                    commit(q, tag, res);
                }
                if !q.is_stopping() {
                    arm_eventfd(q, pool);
                }
            }
            return;
        }
        let iod = q.get_iod(tag);
        let ro = shared.read_only.load(Ordering::Acquire);
        let buf_len = bufs.get(tag as usize).map_or(0, |b| b.len());
        match classify(tag, iod.op_flags, iod.start_sector, iod.nr_sectors, size, buf_len, ro) {
            Decision::Answer(res) => {
                if res == -libc::EROFS {
                    shared.counters.refused_read_only.fetch_add(1, Ordering::Relaxed);
                } else {
                    shared.counters.errors.fetch_add(1, Ordering::Relaxed);
                }
                commit(q, tag, res);
            }
            Decision::Dispatch(job) => pool.push(job),
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIZE: u64 = 64 << 20;
    const BUF: usize = 512 << 10;

    fn c(op: u32, start: u64, n: u32, ro: bool) -> Decision {
        classify(7, op, start, n, SIZE, BUF, ro)
    }

    #[test]
    fn flush_ignores_its_garbage_start_sector() {
        let d = c(sys::UBLK_IO_OP_FLUSH, u64::MAX - 3, 0, false);
        assert_eq!(d, Decision::Dispatch(Job { tag: 7, op: Op::Flush, off: 0, len: 0 }));
        // A flush is allowed on a read-only device (nothing is written).
        assert!(matches!(c(sys::UBLK_IO_OP_FLUSH, 12345678, 0, true), Decision::Dispatch(_)));
    }

    #[test]
    fn ranges_are_checked() {
        let last = SIZE / 512 - 8;
        assert!(matches!(c(sys::UBLK_IO_OP_READ, last, 8, false), Decision::Dispatch(_)));
        assert_eq!(c(sys::UBLK_IO_OP_READ, last, 16, false), Decision::Answer(-libc::EIO));
        assert_eq!(
            c(sys::UBLK_IO_OP_WRITE, u64::MAX / 256, 8, false),
            Decision::Answer(-libc::EIO)
        );
        assert_eq!(c(sys::UBLK_IO_OP_READ, 0, 0, false), Decision::Answer(-libc::EIO));
        // A read or write larger than the tag's buffer cannot be served.
        let big = (BUF / 512) as u32 + 8;
        assert_eq!(c(sys::UBLK_IO_OP_WRITE, 0, big, false), Decision::Answer(-libc::EINVAL));
        // Discard and write-zeroes carry no data: they may exceed the buffer.
        let d = c(sys::UBLK_IO_OP_DISCARD, 0, big, false);
        let len = u64::from(big) * 512;
        assert_eq!(d, Decision::Dispatch(Job { tag: 7, op: Op::Discard, off: 0, len }));
        let d = c(sys::UBLK_IO_OP_WRITE_ZEROES, 8, big, false);
        assert_eq!(d, Decision::Dispatch(Job { tag: 7, op: Op::WriteZeroes, off: 4096, len }));
    }

    #[test]
    fn read_only_refuses_every_change_with_erofs() {
        for op in [sys::UBLK_IO_OP_WRITE, sys::UBLK_IO_OP_DISCARD, sys::UBLK_IO_OP_WRITE_ZEROES] {
            assert_eq!(c(op, 0, 8, true), Decision::Answer(-libc::EROFS));
        }
        assert!(matches!(c(sys::UBLK_IO_OP_READ, 0, 8, true), Decision::Dispatch(_)));
    }

    #[test]
    fn fua_and_unknown_ops() {
        let d = c(sys::UBLK_IO_OP_WRITE | sys::UBLK_IO_F_FUA, 8, 8, false);
        let job = Job { tag: 7, op: Op::Write { fua: true }, off: 4096, len: 4096 };
        assert_eq!(d, Decision::Dispatch(job));
        assert_eq!(c(sys::UBLK_IO_OP_WRITE_SAME, 0, 8, false), Decision::Answer(-libc::EOPNOTSUPP));
        assert_eq!(
            c(sys::UBLK_IO_OP_REPORT_ZONES, 0, 8, false),
            Decision::Answer(-libc::EOPNOTSUPP)
        );
    }

    /// A backend that records what it is asked.
    struct Mem(Mutex<Vec<u8>>, std::sync::atomic::AtomicU64);

    impl BlockBackend for Mem {
        fn size_bytes(&self) -> u64 {
            self.0.lock().unwrap().len() as u64
        }
        fn read_at(&self, buf: &mut [u8], off: u64) -> io::Result<()> {
            let g = self.0.lock().unwrap();
            buf.copy_from_slice(&g[off as usize..off as usize + buf.len()]);
            Ok(())
        }
        fn write_at(&self, data: &[u8], off: u64) -> io::Result<()> {
            let mut g = self.0.lock().unwrap();
            g[off as usize..off as usize + data.len()].copy_from_slice(data);
            Ok(())
        }
        fn flush(&self) -> io::Result<()> {
            self.1.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
        fn discard(&self, off: u64, len: u64) -> io::Result<()> {
            self.write_zeroes(off, len)
        }
        fn write_zeroes(&self, off: u64, len: u64) -> io::Result<()> {
            self.0.lock().unwrap()[off as usize..(off + len) as usize].fill(0);
            Ok(())
        }
        fn writable(&self) -> bool {
            true
        }
    }

    #[test]
    fn workers_execute_and_signal_the_eventfd() {
        let mem =
            Arc::new(Mem(Mutex::new(vec![1u8; 1 << 20]), std::sync::atomic::AtomicU64::new(0)));
        let shared = Shared {
            backend: mem.clone(),
            read_only: AtomicBool::new(false),
            counters: Counters::default(),
            workers: 2,
        };
        let pool = Pool::new(4).unwrap();
        let mut bufs = vec![vec![0u8; 8192]; 2];
        bufs[1].fill(9);
        let ptrs: Vec<BufPtr> = bufs.iter_mut().map(|b| BufPtr(b.as_mut_ptr(), b.len())).collect();
        std::thread::scope(|s| {
            for _ in 0..2 {
                let (pool, ptrs, shared) = (&pool, &ptrs, &shared);
                s.spawn(move || {
                    while let Some(job) = pool.pop() {
                        let res = execute(shared, &job, ptrs[job.tag as usize]);
                        pool.complete(job.tag, res);
                    }
                });
            }
            pool.push(Job { tag: 1, op: Op::Write { fua: true }, off: 4096, len: 8192 });
            pool.push(Job { tag: 0, op: Op::Read, off: 0, len: 4096 });
            let mut got = Vec::with_capacity(4);
            while got.len() < 2 {
                let mut pfd =
                    libc::pollfd { fd: pool.eventfd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
                // SAFETY: one live pollfd.
                unsafe { libc::poll(&mut pfd, 1, 5000) };
                pool.take(&mut got);
            }
            got.sort();
            assert_eq!(got, vec![(0, 4096), (1, 8192)]);
            pool.close();
        });
        assert!(bufs[0][..4096].iter().all(|&b| b == 1));
        assert!(mem.0.lock().unwrap()[4096..12288].iter().all(|&b| b == 9));
        assert_eq!(mem.1.load(Ordering::Relaxed), 1, "FUA write flushed once");
        assert_eq!(shared.counters.writes.load(Ordering::Relaxed), 1);
    }
}
