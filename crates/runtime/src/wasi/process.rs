//! The process side of preview1: arguments and environment, clocks,
//! randomness, `poll_oneoff`, `sched_yield`, and the socket functions
//! (which answer `ENOSYS`: a preview1 command here has no sockets).
//! `proc_exit` and `proc_raise` end the run with a trap and live in
//! `mod.rs`, where traps are made.

use std::time::Duration;

use rustix::time::ClockId;

use super::memory::GuestMemory;
use super::table::{End, Kind};
use super::types::{Errno, clockid, event, layout};
use super::{Args, WasiCtx};

type R = Result<(), Errno>;

/// Writes a list of NUL-terminated strings: pointers at `ptrs`, bytes at `buf`.
fn write_strings(mem: &mut GuestMemory<'_>, list: &[Vec<u8>], ptrs: u32, buf: u32) -> R {
    // Both areas are checked whole first, so no address below can wrap.
    let count = u32::try_from(list.len()).map_err(|_| Errno::OVERFLOW)?;
    let bytes: usize = list.iter().map(|s| s.len() + 1).sum();
    mem.slice(ptrs, count.checked_mul(4).ok_or(Errno::FAULT)?)?;
    mem.slice(buf, u32::try_from(bytes).map_err(|_| Errno::FAULT)?)?;
    let mut at = buf;
    for (i, s) in (0u32..).zip(list) {
        mem.write_u32(ptrs + 4 * i, at)?;
        mem.write(at, s)?;
        mem.write_u8(at + s.len() as u32, 0)?;
        at += s.len() as u32 + 1;
    }
    Ok(())
}

fn write_sizes(mem: &mut GuestMemory<'_>, list: &[Vec<u8>], count: u32, size: u32) -> R {
    let bytes: usize = list.iter().map(|s| s.len() + 1).sum();
    mem.write_u32(count, list.len() as u32)?;
    mem.write_u32(size, u32::try_from(bytes).map_err(|_| Errno::OVERFLOW)?)
}

pub fn args_get(ctx: &mut WasiCtx, mem: &mut GuestMemory<'_>, a: &Args) -> R {
    write_strings(mem, &ctx.args, a.u32(0), a.u32(1))
}

pub fn args_sizes_get(ctx: &mut WasiCtx, mem: &mut GuestMemory<'_>, a: &Args) -> R {
    write_sizes(mem, &ctx.args, a.u32(0), a.u32(1))
}

pub fn environ_get(ctx: &mut WasiCtx, mem: &mut GuestMemory<'_>, a: &Args) -> R {
    write_strings(mem, &ctx.env, a.u32(0), a.u32(1))
}

pub fn environ_sizes_get(ctx: &mut WasiCtx, mem: &mut GuestMemory<'_>, a: &Args) -> R {
    write_sizes(mem, &ctx.env, a.u32(0), a.u32(1))
}

fn clock(id: u32) -> Result<ClockId, Errno> {
    Ok(match id {
        clockid::REALTIME => ClockId::Realtime,
        clockid::MONOTONIC => ClockId::Monotonic,
        clockid::PROCESS_CPUTIME => ClockId::ProcessCPUTime,
        clockid::THREAD_CPUTIME => ClockId::ThreadCPUTime,
        _ => return Err(Errno::INVAL),
    })
}

/// The time of a clock in nanoseconds.
fn now(id: ClockId) -> u64 {
    let t = rustix::time::clock_gettime(id);
    u64::try_from(t.tv_sec)
        .unwrap_or(0)
        .saturating_mul(1_000_000_000)
        .saturating_add(t.tv_nsec as u64)
}

pub fn clock_res_get(_: &mut WasiCtx, mem: &mut GuestMemory<'_>, a: &Args) -> R {
    let t = rustix::time::clock_getres(clock(a.u32(0))?);
    let ns = u64::try_from(t.tv_sec)
        .unwrap_or(0)
        .saturating_mul(1_000_000_000)
        .saturating_add(t.tv_nsec as u64)
        .max(1);
    mem.write_u64(a.u32(1), ns)
}

pub fn clock_time_get(_: &mut WasiCtx, mem: &mut GuestMemory<'_>, a: &Args) -> R {
    // a.u64(1) is the precision, which the host's clocks exceed.
    mem.write_u64(a.u32(2), now(clock(a.u32(0))?))
}

pub fn random_get(_: &mut WasiCtx, mem: &mut GuestMemory<'_>, a: &Args) -> R {
    let buf = mem.slice_mut(a.u32(0), a.u32(1))?;
    let mut filled = 0;
    while filled < buf.len() {
        match rustix::rand::getrandom(&mut buf[filled..], rustix::rand::GetRandomFlags::empty()) {
            Ok(n) => filled += n,
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

pub fn sched_yield(_: &mut WasiCtx, _: &mut GuestMemory<'_>, _: &Args) -> R {
    std::thread::yield_now();
    Ok(())
}

pub fn nosys(_: &mut WasiCtx, _: &mut GuestMemory<'_>, _: &Args) -> R {
    Err(Errno::NOSYS)
}

/// One subscription of `poll_oneoff`, read from guest memory.
enum Sub {
    /// Fires when `clock` reads `deadline` (nanoseconds).
    Clock { clock: ClockId, deadline: u64 },
    /// Ready now, with this many bytes known to be available.
    Fd { nbytes: u64 },
}

/// The clocks `poll_oneoff` accepts, in `clockid` order.
const CLOCKS: [u32; 2] = [clockid::REALTIME, clockid::MONOTONIC];

/// Reads subscription `i`: its userdata, its tag and what it waits for.
/// Relative timeouts count from `start`, each clock's time when the call
/// began, so reading a subscription twice gives the same deadline. A
/// subscription on a descriptor that is not open, or not readable
/// (writable) for a read (write) subscription, is `EBADF` for the whole
/// call, and an unknown clock or a CPU-time one `EINVAL`, as Wasmtime
/// answers.
fn subscription(
    ctx: &WasiCtx,
    mem: &GuestMemory<'_>,
    input: u32,
    i: u32,
    start: &[u64; 2],
) -> Result<(u64, u8, Sub), Errno> {
    let at = input + i * layout::SUBSCRIPTION_SIZE;
    let userdata = mem.read_u64(at)?;
    let tag = mem.read_u8(at + 8)?;
    let sub = match tag {
        event::CLOCK => {
            let id = mem.read_u32(at + 16)?;
            let timeout = mem.read_u64(at + 24)?;
            let flags = mem.read_u16(at + 40)?;
            // CPU time does not pass while the call sleeps: waiting on it
            // could never end (Wasmtime refuses these clocks here too).
            if id != clockid::REALTIME && id != clockid::MONOTONIC {
                return Err(Errno::INVAL);
            }
            let clock = clock(id)?;
            let deadline = if flags & event::ABSTIME != 0 {
                timeout
            } else {
                start[id as usize].saturating_add(timeout)
            };
            Sub::Clock { clock, deadline }
        }
        event::FD_READ | event::FD_WRITE => {
            let d = ctx.table.get(mem.read_u32(at + 16)?)?;
            let want = if tag == event::FD_READ {
                End::Read
            } else {
                End::Write
            };
            let nbytes = match &d.kind {
                Kind::Stream(s) if s.end == want => s.available(),
                Kind::File(f) if tag == event::FD_READ => {
                    use std::io::Seek;
                    let size = f.metadata().map_or(0, |m| m.len());
                    let pos = (&*f).stream_position().unwrap_or(size);
                    size.saturating_sub(pos)
                }
                Kind::File(_) => 0,
                Kind::Stream(_) | Kind::Dir(_) => return Err(Errno::BADF),
            };
            Sub::Fd { nbytes }
        }
        _ => return Err(Errno::INVAL),
    };
    Ok((userdata, tag, sub))
}

/// `poll_oneoff`: clock subscriptions sleep until the earliest deadline; fd
/// subscriptions are always ready (files and pipes do not block here), so
/// any of them makes the call return at once. The subscriptions are read
/// from guest memory in place, once to check them and find the wait, once
/// to write the events: no host memory grows with their number.
pub fn poll_oneoff(ctx: &mut WasiCtx, mem: &mut GuestMemory<'_>, a: &Args) -> R {
    let (input, output, n, nevents) = (a.u32(0), a.u32(1), a.u32(2), a.u32(3));
    if n == 0 {
        // Sleeping forever is not a thing a guest may ask for.
        return Err(Errno::INVAL);
    }
    mem.slice(
        input,
        n.checked_mul(layout::SUBSCRIPTION_SIZE)
            .ok_or(Errno::FAULT)?,
    )?;
    mem.slice(
        output,
        n.checked_mul(layout::EVENT_SIZE).ok_or(Errno::FAULT)?,
    )?;
    let start = CLOCKS.map(|id| clock(id).map_or(0, now));
    // Check every subscription and find how long to wait.
    let mut wait = Some(u64::MAX);
    for i in 0..n {
        match subscription(ctx, mem, input, i, &start)?.2 {
            Sub::Fd { .. } => wait = None,
            Sub::Clock { clock, deadline } => {
                wait = wait.map(|w| w.min(deadline.saturating_sub(now(clock))));
            }
        }
    }
    if let Some(mut wait) = wait {
        // Sleep until the earliest clock fires.
        while wait > 0 {
            std::thread::sleep(Duration::from_nanos(wait));
            wait = u64::MAX;
            for i in 0..n {
                if let Sub::Clock { clock, deadline } = subscription(ctx, mem, input, i, &start)?.2
                {
                    wait = wait.min(deadline.saturating_sub(now(clock)));
                }
            }
        }
    }
    let mut count = 0u32;
    for i in 0..n {
        let (userdata, tag, sub) = subscription(ctx, mem, input, i, &start)?;
        let nbytes = match sub {
            Sub::Clock { clock, deadline } if now(clock) >= deadline => 0,
            Sub::Clock { .. } => continue,
            Sub::Fd { nbytes } => nbytes,
        };
        let mut b = [0u8; layout::EVENT_SIZE as usize];
        b[0..8].copy_from_slice(&userdata.to_le_bytes());
        // error: 0 (success) at 8..10
        b[10] = tag;
        if tag != event::CLOCK {
            b[16..24].copy_from_slice(&nbytes.to_le_bytes());
        }
        mem.write(output + count * layout::EVENT_SIZE, &b)?;
        count += 1;
    }
    mem.write_u32(nevents, count)
}
