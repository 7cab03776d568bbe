//! The WASI sandbox under attack: two guests share one preopen, one
//! swapping a directory `x` and a symlink `lnk -> ../outside` back and
//! forth with `path_rename`, the other opening `x/` (and `x/.`, `x//`,
//! `x/./`, with and without `symlink_follow`) and then reading, creating
//! and touching files through what it opened. Outside the preopen sit
//! canary files with known content and times; the test fails if any of
//! them was read, changed, or joined by a new file.
//!
//! Before the fix, the opener escaped within a few dozen tries: the
//! resolver checked that `x` was a directory and then handed the kernel
//! the name `x/`, which the kernel follows even with `O_NOFOLLOW`.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use common::*;
use rung_runtime::wasi::WasiCtx;

/// A fixed, recognisable time for the canaries (2001-09-09).
const CANARY_TIME: u64 = 1_000_000_000;
const CANARY: &[u8] = b"canary: outside the preopen";

/// How often the opener tries at least, and how often it must have met
/// each state of `x` (a directory, the symlink) for the run to count.
const MIN_ROUNDS: u32 = 1500;
const MIN_EACH_STATE: u32 = 50;
const MAX_TIME: Duration = Duration::from_secs(20);

fn set_time(path: &Path) {
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(CANARY_TIME);
    let f = std::fs::File::options()
        .write(!path.is_dir())
        .read(path.is_dir())
        .open(path)
        .unwrap();
    f.set_times(std::fs::FileTimes::new().set_accessed(t).set_modified(t))
        .unwrap();
}

fn times(path: &Path) -> (SystemTime, SystemTime) {
    let m = std::fs::symlink_metadata(path).unwrap();
    (m.accessed().unwrap(), m.modified().unwrap())
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn ctx(jail: &Path) -> WasiCtx {
    WasiCtx::builder()
        .preopened_dir(jail, "/jail")
        .unwrap()
        .build()
}

/// `path_filestat_set_times(dirfd, lookup, path)` to the epoch, both times.
fn touch(s: &mut Shim, dirfd: i32, lookup: i32, path: &str) -> i32 {
    let [p, l] = s.path_at(PATH, path);
    // fst_flags: ATIM | MTIM
    s.call(
        "path_filestat_set_times",
        &[I(dirfd), I(lookup), p, l, L(0), L(0), I(1 | 4)],
    )
}

#[test]
fn a_swapped_symlink_never_leads_out_of_the_preopen() {
    let root = scratch("race");
    let jail = root.join("jail");
    let outside = root.join("outside");
    std::fs::create_dir_all(jail.join("x")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(jail.join("x/secret.txt"), b"inside").unwrap();
    std::fs::write(outside.join("secret.txt"), CANARY).unwrap();
    set_time(&outside.join("secret.txt"));
    set_time(&outside);
    let canary_times = times(&outside.join("secret.txt"));
    let outside_times = times(&outside);

    // The swapper: a guest of its own, which makes the link itself.
    let stop = Arc::new(AtomicBool::new(false));
    let swapper = {
        let (jail, stop) = (jail.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut s = Shim::new(ctx(&jail));
            let [t, tl] = s.path_at(PATH, "../outside");
            let [n, nl] = s.path_at(PATH2, "lnk");
            assert_eq!(s.call("path_symlink", &[t, tl, I(3), n, nl]), ESUCCESS);
            let rename = |s: &mut Shim, from: &str, to: &str| {
                let [p, l] = s.path_at(PATH, from);
                let [q, m] = s.path_at(PATH2, to);
                assert_eq!(
                    s.call("path_rename", &[I(3), p, l, I(3), q, m]),
                    ESUCCESS,
                    "rename {from} -> {to}"
                );
            };
            let mut swaps = 0u64;
            while !stop.load(Ordering::Relaxed) {
                rename(&mut s, "x", "tmp");
                rename(&mut s, "lnk", "x");
                rename(&mut s, "x", "lnk");
                rename(&mut s, "tmp", "x");
                swaps += 1;
            }
            swaps
        })
    };

    let mut s = Shim::new(ctx(&jail));
    let (mut as_dir, mut as_link, mut rounds) = (0u32, 0u32, 0u32);
    let started = Instant::now();
    while rounds < MIN_ROUNDS
        || ((as_dir < MIN_EACH_STATE || as_link < MIN_EACH_STATE) && started.elapsed() < MAX_TIME)
    {
        rounds += 1;
        for path in ["x/", "x/.", "x//", "x/./", "x/../x/"] {
            for lookup in [0, LOOKUP_SYMLINK_FOLLOW] {
                match s.open(3, lookup, path, OFLAGS_DIRECTORY, RIGHTS_READ_ONLY) {
                    Ok(fd) => {
                        as_dir += 1;
                        // Whatever `fd` is, it must be `x` inside the jail.
                        if let Ok(f) = s.open(fd, 0, "secret.txt", 0, RIGHTS_READ_ONLY) {
                            let (e, data) = s.read_fd(f, 100);
                            assert_eq!(e, ESUCCESS);
                            assert_eq!(data, b"inside", "{path}: read outside the preopen");
                            s.call("fd_close", &[I(f)]);
                        }
                        if let Ok(f) = s.open(fd, 0, "made-by-guest", OFLAGS_CREAT, RIGHTS_ALL) {
                            s.call("fd_close", &[I(f)]);
                        }
                        touch(&mut s, fd, 0, "secret.txt");
                        touch(&mut s, fd, 0, ".");
                        assert_eq!(s.call("fd_close", &[I(fd)]), ESUCCESS);
                    }
                    Err(ENOTCAPABLE | ELOOP | ENOTDIR | ENOENT) => as_link += 1,
                    Err(e) => panic!("{path}: unexpected errno {e}"),
                }
                // The same names through the path_* calls that act on what
                // they name.
                let (e, st) = s.stat(3, lookup, path);
                if e == ESUCCESS {
                    assert_eq!(st[16], FILETYPE_DIRECTORY, "{path}");
                }
                touch(&mut s, 3, lookup, path);
                let secret = format!("{path}secret.txt");
                touch(&mut s, 3, lookup, &secret);
                if let Ok(f) = s.open(3, lookup, &secret, 0, RIGHTS_READ_ONLY) {
                    let (_, data) = s.read_fd(f, 100);
                    assert_eq!(data, b"inside", "{secret}: read outside the preopen");
                    s.call("fd_close", &[I(f)]);
                }
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let swaps = swapper.join().unwrap();

    eprintln!(
        "race: {rounds} rounds, {swaps} swaps; x was opened as a directory {as_dir} times, refused {as_link} times"
    );
    // Times first: reading the canaries below changes their access times.
    assert_eq!(
        times(&outside.join("secret.txt")),
        canary_times,
        "canary touched"
    );
    assert_eq!(times(&outside), outside_times, "outside directory touched");
    assert_eq!(listing(&outside), ["secret.txt"], "a file appeared outside");
    assert_eq!(std::fs::read(outside.join("secret.txt")).unwrap(), CANARY);
    // The race was really run: both states were met many times.
    assert!(
        as_dir >= MIN_EACH_STATE && as_link >= MIN_EACH_STATE,
        "the swap was not observed often enough to test anything: {as_dir} / {as_link}"
    );
}
