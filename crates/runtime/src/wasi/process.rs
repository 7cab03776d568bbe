//! The process side of preview1: arguments and environment, clocks,
//! randomness, `poll_oneoff`, `sched_yield`, and the socket functions
//! (which answer `ENOSYS`: a preview1 command here has no sockets).
//! `proc_exit` and `proc_raise` end the run with a trap and live in
//! `mod.rs`, where traps are made.

use std::time::Duration;

use rustix::time::ClockId;

use super::memory::GuestMemory;
use super::table::Kind;
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

/// One subscription of `poll_oneoff`.
struct Subscription {
    userdata: u64,
    tag: u8,
    /// For a clock: when it fires, in nanoseconds of `clock`; for an fd: its
    /// errno and the bytes available.
    deadline: u64,
    clock: ClockId,
    fd_result: (Errno, u64),
}

/// `poll_oneoff`: clock subscriptions sleep until the earliest deadline; fd
/// subscriptions are always ready (files and pipes do not block here), so
/// any of them makes the call return at once.
pub fn poll_oneoff(ctx: &mut WasiCtx, mem: &mut GuestMemory<'_>, a: &Args) -> R {
    let (input, output, n, nevents) = (a.u32(0), a.u32(1), a.u32(2), a.u32(3));
    if n == 0 {
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
    let mut subs = Vec::with_capacity(n.min(4096) as usize);
    for i in 0..n {
        let at = input + i * layout::SUBSCRIPTION_SIZE;
        let userdata = mem.read_u64(at)?;
        let tag = mem.read_u8(at + 8)?;
        let mut s = Subscription {
            userdata,
            tag,
            deadline: 0,
            clock: ClockId::Monotonic,
            fd_result: (Errno::SUCCESS, 0),
        };
        match tag {
            event::CLOCK => {
                let id = mem.read_u32(at + 16)?;
                let timeout = mem.read_u64(at + 24)?;
                let flags = mem.read_u16(at + 40)?;
                match clock(id) {
                    Ok(c) => {
                        s.clock = c;
                        s.deadline = if flags & event::ABSTIME != 0 {
                            timeout
                        } else {
                            now(c).saturating_add(timeout)
                        };
                    }
                    Err(e) => s.fd_result = (e, 0),
                }
            }
            event::FD_READ | event::FD_WRITE => {
                let fd = mem.read_u32(at + 16)?;
                s.fd_result = match ctx.table.get(fd) {
                    Ok(d) => (Errno::SUCCESS, available(&d.kind, tag)),
                    Err(e) => (e, 0),
                };
            }
            _ => return Err(Errno::INVAL),
        }
        subs.push(s);
    }
    let immediate = subs
        .iter()
        .any(|s| s.tag != event::CLOCK || s.fd_result.0 != Errno::SUCCESS);
    if !immediate {
        // Sleep until the earliest clock fires.
        loop {
            let wait = subs
                .iter()
                .map(|s| s.deadline.saturating_sub(now(s.clock)))
                .min()
                .unwrap_or(0);
            if wait == 0 {
                break;
            }
            std::thread::sleep(Duration::from_nanos(wait));
        }
    }
    let mut count = 0u32;
    for s in &subs {
        let ready = match s.tag {
            event::CLOCK => s.fd_result.0 != Errno::SUCCESS || now(s.clock) >= s.deadline,
            _ => true,
        };
        if !ready {
            continue;
        }
        let at = output + count * layout::EVENT_SIZE;
        let mut b = [0u8; layout::EVENT_SIZE as usize];
        b[0..8].copy_from_slice(&s.userdata.to_le_bytes());
        b[8..10].copy_from_slice(&s.fd_result.0.0.to_le_bytes());
        b[10] = s.tag;
        if s.tag != event::CLOCK {
            b[16..24].copy_from_slice(&s.fd_result.1.to_le_bytes());
        }
        mem.write(at, &b)?;
        count += 1;
    }
    mem.write_u32(nevents, count)
}

/// Bytes ready on a descriptor for an fd subscription (a file: what is left
/// to read; otherwise unknown, 0).
fn available(kind: &Kind, tag: u8) -> u64 {
    match kind {
        Kind::File(f) if tag == event::FD_READ => {
            use std::io::Seek;
            let size = f.metadata().map_or(0, |m| m.len());
            let pos = (&*f).stream_position().unwrap_or(size);
            size.saturating_sub(pos)
        }
        Kind::Pipe(super::table::Pipe::Input { data, pos }) if tag == event::FD_READ => {
            data.len().saturating_sub(*pos) as u64
        }
        _ => 0,
    }
}
