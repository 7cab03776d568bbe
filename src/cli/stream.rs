//! `rung run --stream [--rate R] [--chunk N]`: compile the module through
//! the streaming compiler, fed chunk by chunk (at most `R` bytes a second,
//! to simulate a network), and report what streaming is for: when the
//! first function was compiled and how long after the last byte the module
//! was ready.

use std::time::{Duration, Instant};

use rung::runtime::{Engine, Error, Module, StreamEvent, StreamingCompiler};

/// How to feed the streaming compiler.
#[derive(Debug, Clone, Copy)]
pub struct Feed {
    /// Bytes per second, or `None` for as fast as possible.
    pub rate: Option<f64>,
    /// Bytes per `push`.
    pub chunk: usize,
}

/// What streaming took.
#[derive(Debug, Clone, Copy, Default)]
pub struct StreamTimes {
    /// Bytes fed.
    pub bytes: usize,
    /// From the first push to the first function compiled.
    pub first_compiled: Option<Duration>,
    /// From the first push to the last.
    pub last_byte: Duration,
    /// From the last push to the module ready.
    pub ready_after_last_byte: Duration,
}

/// Compiles `bytes` through a `StreamingCompiler` fed as `feed` says.
pub fn compile(engine: &Engine, bytes: &[u8], feed: Feed) -> Result<(Module, StreamTimes), Error> {
    let mut compiler = StreamingCompiler::new(engine);
    let first = std::sync::Arc::new(std::sync::OnceLock::new());
    let seen = first.clone();
    compiler.on_event(move |e| {
        if let StreamEvent::FirstFunctionCompiled { after, .. } = e {
            let _ = seen.set(after);
        }
    });
    let start = Instant::now();
    let mut sent = 0usize;
    for piece in bytes.chunks(feed.chunk.max(1)) {
        if let Some(rate) = feed.rate {
            // The chunk arrives when the link has carried it.
            let due = Duration::from_secs_f64((sent + piece.len()) as f64 / rate);
            if let Some(wait) = due.checked_sub(start.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        compiler.push(piece)?;
        sent += piece.len();
    }
    let last_byte = start.elapsed();
    let module = compiler.finish()?;
    let ready = start.elapsed();
    Ok((
        module,
        StreamTimes {
            bytes: sent,
            first_compiled: first.get().copied(),
            last_byte,
            ready_after_last_byte: ready - last_byte,
        },
    ))
}

/// A rate such as `10MB/s`, `512KiB/s` or `1000000` (bytes a second).
pub fn parse_rate(text: &str) -> Result<f64, String> {
    let bytes = parse_size(text.trim_end_matches("/s"))?;
    if bytes == 0 {
        return Err(format!("--rate {text}: must be above 0"));
    }
    Ok(bytes as f64)
}

/// A size such as `64KiB`, `1MB` or `4096` (bytes).
pub fn parse_size(text: &str) -> Result<usize, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size (e.g. 64KiB, 10MB, 4096)"))?;
    let scale = match unit.trim() {
        "" | "B" => 1.0,
        "KB" | "kB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        other => {
            return Err(format!(
                "`{text}`: unknown unit `{other}` (B, KB, MB, GB, KiB, MiB, GiB)"
            ));
        }
    };
    Ok((number * scale) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_rates_read_as_people_write_them() {
        assert_eq!(parse_size("64KiB"), Ok(65536));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("1.5MB"), Ok(1_500_000));
        assert_eq!(parse_rate("10MB/s"), Ok(1e7));
        assert!(parse_size("ten").is_err());
        assert!(parse_size("3 parsecs").is_err());
        assert!(parse_rate("0/s").is_err());
    }
}
