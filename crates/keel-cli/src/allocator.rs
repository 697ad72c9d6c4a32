//! The binary's allocator: jemalloc. With glibc's malloc, threads contend on
//! its arenas (a fifth of Keel's CPU under load went to malloc/free and the
//! futex wake-ups of its locks), and freed memory stays in per-thread
//! arenas until trimmed. See docs/decisions/0009-allocator.md.

#[cfg(all(target_os = "linux", not(target_env = "msvc")))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's settings, read once at start: a background thread returns
/// freed pages to the OS (dirty pages after 1 s, none kept muzzy), so RSS
/// falls back toward idle after a burst without any work on the request
/// path. `MALLOC_CONF`-style overrides still apply through `_RJEM_MALLOC_CONF`.
#[cfg(all(target_os = "linux", not(target_env = "msvc")))]
#[allow(non_upper_case_globals)]
#[export_name = "_rjem_malloc_conf"]
pub static malloc_conf: &[u8; 60] =
    b"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0\0";
