//! Just enough of Redis's protocol for the governance comparison: the
//! latency of one round trip (PING), as the yardstick for what Keel's Redis
//! counters add, and the scripts Redis has run and its time in them (INFO
//! commandstats), to count Keel's calls to it per request and their cost:
//! each of Keel's counter operations is one script, one round trip.

use std::io;
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::stats::Percentiles;

/// One connection to Redis.
pub struct Redis {
    stream: TcpStream,
}

impl Redis {
    /// Connects to `HOST:PORT`, with TCP_NODELAY as Keel's client uses.
    pub async fn connect(addr: &str) -> io::Result<Redis> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Redis { stream })
    }

    /// Sends a command and returns its reply: a simple string's text or a
    /// bulk string's bytes; an error reply is an error.
    async fn command(&mut self, args: &[&str]) -> io::Result<Vec<u8>> {
        let mut req = format!("*{}\r\n", args.len());
        for a in args {
            req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        self.stream.write_all(req.as_bytes()).await?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(reply) = reply(&buf)? {
                return Ok(reply);
            }
            let n = self.stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// `count` PINGs one after the other; their round trips in ns.
    pub async fn ping(&mut self, count: usize) -> io::Result<Percentiles> {
        let mut samples = Vec::with_capacity(count);
        for _ in 0..count {
            let start = Instant::now();
            self.command(&["PING"]).await?;
            samples.push(start.elapsed().as_nanos() as u64);
        }
        Ok(Percentiles::of(&mut samples))
    }

    /// Scripts Redis has run since it started and the time it spent in
    /// them, in µs (INFO commandstats).
    pub async fn script_stats(&mut self) -> io::Result<(u64, u64)> {
        let info = self.command(&["INFO", "commandstats"]).await?;
        Ok(script_totals(&String::from_utf8_lossy(&info)))
    }
}

/// Calls and µs summed over the scripts' lines of INFO commandstats (EVAL,
/// EVALSHA, FCALL and their read-only forms). The commands a script runs
/// have lines of their own; they are part of its time, not round trips.
fn script_totals(info: &str) -> (u64, u64) {
    let mut total = (0, 0);
    for line in info.lines() {
        let Some((name, stats)) = line
            .strip_prefix("cmdstat_")
            .and_then(|l| l.split_once(':'))
        else {
            continue;
        };
        if !(name.starts_with("eval") || name.starts_with("fcall")) {
            continue;
        }
        let field = |key: &str| {
            stats
                .split(',')
                .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        total.0 += field("calls");
        total.1 += field("usec");
    }
    total
}

/// The reply at the start of `buf`, or `None` when it is not complete yet.
fn reply(buf: &[u8]) -> io::Result<Option<Vec<u8>>> {
    let Some(end) = buf.windows(2).position(|w| w == b"\r\n") else {
        return Ok(None);
    };
    let line = &buf[..end];
    match line.first() {
        Some(b'+') => Ok(Some(line[1..].to_vec())),
        Some(b'$') => {
            let len: usize = std::str::from_utf8(&line[1..])
                .ok()
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| io::Error::other("bad bulk length"))?;
            let start = end + 2;
            Ok((buf.len() >= start + len + 2).then(|| buf[start..start + len].to_vec()))
        }
        _ => Err(io::Error::other(String::from_utf8_lossy(line).into_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::reply;

    #[test]
    fn replies() {
        assert_eq!(reply(b"+PONG\r\n").unwrap(), Some(b"PONG".to_vec()));
        assert_eq!(reply(b"$5\r\nab").unwrap(), None);
        assert_eq!(reply(b"$5\r\nabcde\r\n").unwrap(), Some(b"abcde".to_vec()));
        assert!(reply(b"-ERR nope\r\n").is_err());
    }

    #[test]
    fn sums_script_stats() {
        let info = "# Commandstats\r\n\
            cmdstat_evalsha:calls=12,usec=300,usec_per_call=25.00,rejected_calls=0\r\n\
            cmdstat_eval:calls=1,usec=70,usec_per_call=70.00,rejected_calls=0\r\n\
            cmdstat_hincrby:calls=50,usec=15,usec_per_call=0.30\r\n\
            cmdstat_info:calls=5,usec=500,usec_per_call=100.00\r\n";
        assert_eq!(super::script_totals(info), (13, 370));
    }
}
