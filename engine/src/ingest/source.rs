//! What the file importers (`sacct`, `swf`, `ndjson`, `parquet`) share: opening a possibly
//! compressed input, identifying it for resumption, fast time parsing and rendering, and the
//! pipeline that turns parsed rows into atomic batch commits.
//!
//! # Pipeline
//! A reader thread decompresses, splits lines, parses them into a reused [`UnitsBuilder`] and
//! sends a finished record batch every `batch_rows` units through a channel of capacity one, so
//! at most two batches are in memory while the async side commits the previous one. Each commit
//! is one [`Transaction`]: the units, the users and projects rows the batch changed, and the
//! source's progress (the last line number of the batch). A re-run of an interrupted import
//! does not import the lines up to that number again, but still parses them to report their
//! rejects (the rejects list of a run that finishes covers the whole source, whatever happened
//! to the runs before); a re-run of a completed one reads everything again and finds every unit
//! unchanged, because importers derive `last_updated_at` from the data (never from the clock).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::array::{Array, AsArray, RecordBatch};

use crate::error::{Error, Result};
use crate::ingest::builder::{MembersBuilder, UnitsBuilder};
use crate::ingest::ceems_row::CeemsMemberRow;
use crate::ingest::{ImportObserver, ImportSummary, RowReject};
use crate::schema::{self, KeyRegistry, Table};
use crate::store::parquet_io;
use crate::store::transaction::Transaction;
use crate::store::{SourceProgress, Store};
use crate::time::DataTz;

// ---------------------------------------------------------------------------------------------
// Input files

/// Compression of an input file, recognised by its first bytes (not its name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Xz,
    Zstd,
}

impl Compression {
    /// Recognises the magic number at the start of a file.
    pub fn detect(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
            Compression::Xz
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Xz => "xz",
            Compression::Zstd => "zstd",
        }
    }
}

/// Counts the bytes read from the underlying (compressed) file, for progress estimates.
struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// An opened input: decompressed text, its compression, its size on disk and how much of that
/// has been read so far.
pub struct Input {
    /// The file, for error messages.
    pub path: String,
    pub reader: Box<dyn BufRead + Send>,
    pub compression: Compression,
    pub file_bytes: u64,
    pub consumed: Arc<AtomicU64>,
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Input")
            .field("compression", &self.compression)
            .field("file_bytes", &self.file_bytes)
            .finish()
    }
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Buffer size of the decompressed stream.
const READ_BUFFER: usize = 1 << 20;

/// Opens `path`, decompressing gzip, xz or zstd transparently (concatenated streams included).
pub fn open_input(path: &Path) -> Result<Input> {
    let mut f = std::fs::File::open(path).map_err(io_err(path))?;
    let file_bytes = f.metadata().map_err(io_err(path))?.len();
    let mut head = [0u8; 6];
    let mut got = 0;
    while got < head.len() {
        let n = f.read(&mut head[got..]).map_err(io_err(path))?;
        if n == 0 {
            break;
        }
        got += n;
    }
    let compression = Compression::detect(&head[..got]);
    let f = std::fs::File::open(path).map_err(io_err(path))?;
    let consumed = Arc::new(AtomicU64::new(0));
    let raw = BufReader::with_capacity(
        256 << 10,
        Counting {
            inner: f,
            count: Arc::clone(&consumed),
        },
    );
    let reader: Box<dyn BufRead + Send> = match compression {
        Compression::None => Box::new(BufReader::with_capacity(READ_BUFFER, raw)),
        Compression::Gzip => Box::new(BufReader::with_capacity(
            READ_BUFFER,
            flate2::bufread::MultiGzDecoder::new(raw),
        )),
        Compression::Xz => Box::new(BufReader::with_capacity(
            READ_BUFFER,
            xz2::bufread::XzDecoder::new_multi_decoder(raw),
        )),
        Compression::Zstd => Box::new(BufReader::with_capacity(
            READ_BUFFER,
            zstd::stream::read::Decoder::with_buffer(raw).map_err(io_err(path))?,
        )),
    };
    Ok(Input {
        path: path.display().to_string(),
        reader,
        compression,
        file_bytes,
        consumed,
    })
}

/// FNV-1a, 64 bit: a stable hash (unlike the std hasher) for source fingerprints.
pub(crate) fn fnv1a(seed: u64, bytes: &[u8]) -> u64 {
    let mut h = seed;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// Identifies one input and the options that shape what is derived from it, so the progress
/// of an interrupted import applies only to the same content imported the same way. The file's
/// size and first MiB are hashed (not its name or time), so a moved file still resumes.
pub fn fingerprint(kind: &str, path: &Path, options: &str) -> Result<String> {
    let mut f = std::fs::File::open(path).map_err(io_err(path))?;
    let len = f.metadata().map_err(io_err(path))?.len();
    let mut buf = vec![0u8; 1 << 20];
    let mut got = 0;
    while got < buf.len() {
        let n = f.read(&mut buf[got..]).map_err(io_err(path))?;
        if n == 0 {
            break;
        }
        got += n;
    }
    let content = fnv1a(FNV_OFFSET, &buf[..got]);
    let opts = fnv1a(FNV_OFFSET, options.as_bytes());
    Ok(format!("{kind}:{len}:{content:016x}:{opts:016x}"))
}

// ---------------------------------------------------------------------------------------------
// Time

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number from [`days_from_civil`].
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn digits(b: &[u8]) -> Option<u32> {
    let mut v = 0u32;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Some(v)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ => {
            if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 {
                29
            } else {
                28
            }
        }
    }
}

const CACHE_SLOTS: usize = 1024;

/// Fast conversions between epoch milliseconds and the original's time strings in one data
/// zone. Offsets are cached per hour (an hour whose two ends have different offsets, i.e. one
/// holding a transition, is never cached), so a dump of millions of rows does not consult the
/// zone database for every value; results are those of [`DataTz::local_to_ms`] and
/// [`DataTz::offset_at`].
#[derive(Debug, Clone)]
pub struct Clock {
    tz: DataTz,
    /// Local hour → offset (seconds east of UTC) for wall-clock → UTC.
    to_utc: Vec<(i64, i32)>,
    /// UTC hour → offset for UTC → wall clock.
    to_local: Vec<(i64, i32)>,
}

const NO_HOUR: i64 = i64::MIN;

impl Clock {
    pub fn new(tz: DataTz) -> Clock {
        Clock {
            tz,
            to_utc: vec![(NO_HOUR, 0); CACHE_SLOTS],
            to_local: vec![(NO_HOUR, 0); CACHE_SLOTS],
        }
    }

    pub fn time_zone(&self) -> DataTz {
        self.tz
    }

    fn uncached_local(&self, local_secs: i64) -> i64 {
        let naive = chrono::DateTime::from_timestamp(local_secs, 0)
            .unwrap_or_default()
            .naive_utc();
        self.tz.local_to_ms(naive) / 1000
    }

    /// UTC seconds of a wall-clock time (seconds since the epoch as if the zone were UTC).
    pub fn local_to_utc(&mut self, local_secs: i64) -> i64 {
        let hour = local_secs.div_euclid(3600);
        let slot = (hour as usize) % CACHE_SLOTS;
        let (h, off) = self.to_utc[slot];
        if h == hour {
            return local_secs - i64::from(off);
        }
        let start = hour * 3600;
        let a = start - self.uncached_local(start);
        let b = start + 3599 - self.uncached_local(start + 3599);
        if a == b {
            self.to_utc[slot] = (hour, a as i32);
            local_secs - a
        } else {
            self.uncached_local(local_secs)
        }
    }

    /// Offset of the zone at a UTC instant, in seconds east of UTC.
    pub fn offset_secs(&mut self, utc_secs: i64) -> i32 {
        let hour = utc_secs.div_euclid(3600);
        let slot = (hour as usize) % CACHE_SLOTS;
        let (h, off) = self.to_local[slot];
        if h == hour {
            return off;
        }
        let a = self.tz.offset_at(hour * 3600 * 1000).local_minus_utc();
        let b = self
            .tz
            .offset_at((hour * 3600 + 3599) * 1000)
            .local_minus_utc();
        if a == b {
            self.to_local[slot] = (hour, a);
            a
        } else {
            self.tz.offset_at(utc_secs * 1000).local_minus_utc()
        }
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS` (a space instead of `T` is accepted) read in the data zone,
    /// or followed by an offset (`Z`, `±hh`, `±hhmm`, `±hh:mm`). `Unknown`, `None`, `N/A`, `0`
    /// and empty text mean "not set" (`Ok(None)`). Returns epoch milliseconds.
    pub fn parse(&mut self, s: &str) -> std::result::Result<Option<i64>, &'static str> {
        let b = trim(s).as_bytes();
        if b.is_empty()
            || b.eq_ignore_ascii_case(b"unknown")
            || b.eq_ignore_ascii_case(b"none")
            || b == b"N/A"
            || b == b"0"
        {
            return Ok(None);
        }
        if b.len() < 19
            || b[4] != b'-'
            || b[7] != b'-'
            || !(b[10] == b'T' || b[10] == b' ')
            || b[13] != b':'
            || b[16] != b':'
        {
            return Err("not a time of the form YYYY-MM-DDTHH:MM:SS");
        }
        let bad = "not a time of the form YYYY-MM-DDTHH:MM:SS";
        let y = i64::from(digits(&b[0..4]).ok_or(bad)?);
        let mo = digits(&b[5..7]).ok_or(bad)?;
        let d = digits(&b[8..10]).ok_or(bad)?;
        let h = digits(&b[11..13]).ok_or(bad)?;
        let mi = digits(&b[14..16]).ok_or(bad)?;
        let se = digits(&b[17..19]).ok_or(bad)?;
        if !(1..=12).contains(&mo) || d == 0 || d > days_in_month(y, mo) {
            return Err("invalid date");
        }
        if h > 23 || mi > 59 || se > 60 {
            return Err("invalid time of day");
        }
        let local = days_from_civil(y, mo, d) * 86_400
            + i64::from(h) * 3600
            + i64::from(mi) * 60
            + i64::from(se);
        let rest = &b[19..];
        let utc = match rest {
            [] => self.local_to_utc(local),
            [b'Z'] | [b'z'] => local,
            [sign @ (b'+' | b'-'), tail @ ..] => {
                let (oh, om) = match tail {
                    [a, b2] => (digits(&[*a, *b2]), Some(0)),
                    [a, b2, c, d2] => (digits(&[*a, *b2]), digits(&[*c, *d2])),
                    [a, b2, b':', c, d2] => (digits(&[*a, *b2]), digits(&[*c, *d2])),
                    _ => (None, None),
                };
                let (Some(oh), Some(om)) = (oh, om) else {
                    return Err("invalid UTC offset");
                };
                if oh > 23 || om > 59 {
                    return Err("invalid UTC offset");
                }
                let off = i64::from(oh * 3600 + om * 60);
                if *sign == b'+' {
                    local - off
                } else {
                    local + off
                }
            }
            _ => return Err("unexpected text after the time"),
        };
        Ok(Some(utc * 1000))
    }

    fn push_wall(out: &mut String, local_secs: i64) {
        let days = local_secs.div_euclid(86_400);
        let secs = local_secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        let mut buf = [0u8; 19];
        let put = |buf: &mut [u8], at: usize, v: u32, w: usize| {
            let mut v = v;
            for i in (0..w).rev() {
                buf[at + i] = b'0' + (v % 10) as u8;
                v /= 10;
            }
        };
        put(&mut buf, 0, y.clamp(0, 9999) as u32, 4);
        buf[4] = b'-';
        put(&mut buf, 5, m, 2);
        buf[7] = b'-';
        put(&mut buf, 8, d, 2);
        buf[10] = b'T';
        put(&mut buf, 11, (secs / 3600) as u32, 2);
        buf[13] = b':';
        put(&mut buf, 14, ((secs % 3600) / 60) as u32, 2);
        buf[16] = b':';
        put(&mut buf, 17, (secs % 60) as u32, 2);
        // Only ASCII digits and separators were written.
        out.push_str(std::str::from_utf8(&buf).unwrap_or_default());
    }

    /// Appends `YYYY-MM-DDTHH:MM:SS±hhmm` of epoch milliseconds in the data zone.
    pub fn render(&mut self, ms: i64, out: &mut String) {
        let utc = ms.div_euclid(1000);
        let off = self.offset_secs(utc);
        Self::push_wall(out, utc + i64::from(off));
        let (sign, a) = if off < 0 { ('-', -off) } else { ('+', off) };
        out.push(sign);
        let (h, m) = (a / 3600, (a % 3600) / 60);
        out.push((b'0' + (h / 10) as u8) as char);
        out.push((b'0' + (h % 10) as u8) as char);
        out.push((b'0' + (m / 10) as u8) as char);
        out.push((b'0' + (m % 10) as u8) as char);
    }

    /// Appends `YYYY-MM-DDTHH:MM:SS` (no offset) of epoch milliseconds in the data zone: the
    /// original's `last_updated_at` format.
    pub fn render_naive(&mut self, ms: i64, out: &mut String) {
        let utc = ms.div_euclid(1000);
        let off = self.offset_secs(utc);
        Self::push_wall(out, utc + i64::from(off));
    }
}

/// Appends a duration as the original's `elapsed` (`[D-]HH:MM:SS`).
pub fn push_elapsed(out: &mut String, seconds: i64) {
    let s = seconds.max(0);
    let (d, rem) = (s / 86_400, s % 86_400);
    let (h, m, sec) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    if d > 0 {
        push_int(out, d);
        out.push('-');
    }
    for (i, v) in [h, m, sec].into_iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        out.push(char::from(b'0' + (v / 10) as u8));
        out.push(char::from(b'0' + (v % 10) as u8));
    }
}

/// Parses a Slurm duration: `[D-]HH:MM:SS`, `MM:SS`, `MM:SS.mmm`, or plain seconds.
pub fn parse_duration(s: &str) -> Option<i64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(v) = s.parse::<i64>() {
        return Some(v);
    }
    let (days, rest) = match s.split_once('-') {
        Some((d, r)) => (d.parse::<i64>().ok()?, r),
        None => (0, s),
    };
    let rest = rest.split('.').next()?;
    let mut parts = [0i64; 3];
    let mut n = 0;
    for p in rest.split(':') {
        if n == 3 || p.is_empty() {
            return None;
        }
        parts[n] = p.parse::<i64>().ok()?;
        n += 1;
    }
    let secs = match n {
        1 => parts[0],
        2 => parts[0] * 60 + parts[1],
        _ => parts[0] * 3600 + parts[1] * 60 + parts[2],
    };
    Some(days * 86_400 + secs)
}

// ---------------------------------------------------------------------------------------------
// JSON text

/// Appends `s` as a JSON string literal.
pub fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    // Every character that needs escaping is ASCII, and no byte of a multi-byte UTF-8 sequence
    // is: scanning bytes finds exactly those characters, at character boundaries.
    let mut start = 0;
    for (i, &c) in s.as_bytes().iter().enumerate() {
        let esc: Option<&str> = match c {
            b'"' => Some("\\\""),
            b'\\' => Some("\\\\"),
            b'\n' => Some("\\n"),
            b'\r' => Some("\\r"),
            b'\t' => Some("\\t"),
            c if c < 0x20 => None,
            _ => continue,
        };
        out.push_str(&s[start..i]);
        match esc {
            Some(e) => out.push_str(e),
            None => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.push_str("\\u00");
                out.push(char::from(HEX[usize::from(c >> 4)]));
                out.push(char::from(HEX[usize::from(c & 15)]));
            }
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// [`str::trim`], with a shortcut for the usual field that neither starts nor ends with
/// whitespace (seen on its first and last bytes being visible ASCII; anything else takes
/// `str::trim`, so the result is always the same).
#[inline]
pub fn trim(s: &str) -> &str {
    match s.as_bytes() {
        [first, .., last] if first.is_ascii_graphic() && last.is_ascii_graphic() => s,
        [only] if only.is_ascii_graphic() => s,
        _ => s.trim(),
    }
}

/// Appends an integer in decimal (what `write!(out, "{v}")` gives, without the formatting
/// machinery: this runs several times per imported line).
pub fn push_int(out: &mut String, v: i64) {
    if v < 0 {
        out.push('-');
    }
    push_uint(out, v.unsigned_abs(), 1);
}

/// Appends an unsigned integer in decimal, zero-padded to at least `width` digits (at most
/// 20): `write!(out, "{v:0width$}")` without the formatting machinery.
pub fn push_uint(out: &mut String, v: u64, width: usize) {
    let mut buf = [b'0'; 20];
    let mut at = buf.len();
    let mut n = v;
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let at = at.min(buf.len() - width.clamp(1, buf.len()));
    // Only ASCII digits were written.
    out.push_str(std::str::from_utf8(&buf[at..]).unwrap_or_default());
}

/// A reject with the value cut to 200 characters.
pub fn reject(location: &str, field: &str, value: &str, reason: impl Into<String>) -> RowReject {
    RowReject {
        location: location.to_string(),
        field: field.to_string(),
        value: value.chars().take(200).collect(),
        reason: reason.into(),
    }
}

// ---------------------------------------------------------------------------------------------
// The pipeline

/// A user's membership of a project, seen in a unit.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Membership {
    pub cluster_id: String,
    pub resource_manager: String,
    pub user: String,
    pub project: String,
    /// `last_updated_at` of the unit that showed it.
    pub last_updated_at: String,
}

pub(crate) struct BatchMsg {
    batch: RecordBatch,
    registry: KeyRegistry,
    /// Last source position (line number, row number) the batch covers.
    position: u64,
    rows: u64,
    skipped: u64,
    rejects: Vec<RowReject>,
    members: Vec<Membership>,
    consumed: u64,
    /// The source ends with this batch.
    last: bool,
}

pub(crate) enum Msg {
    Batch(Box<BatchMsg>),
    /// Rows skipped because an earlier run committed them.
    Resumed(u64),
    Failed(Error),
}

/// The reader thread's end of the pipeline: rows go into [`Emitter::builder`], rejects and
/// memberships into the emitter, and [`Emitter::row_done`] ships full batches.
pub struct Emitter {
    tx: tokio::sync::mpsc::Sender<Msg>,
    pub builder: UnitsBuilder,
    rejects: Vec<RowReject>,
    members: Vec<Membership>,
    seen: HashSet<String>,
    key: String,
    rows: u64,
    skipped: u64,
    batch_rows: usize,
    consumed: Arc<AtomicU64>,
    closed: bool,
    /// A resumed import whose committed part had rejects: readers parse that part again to
    /// list them. Without any, they skip it unparsed.
    replay_rejects: bool,
}

impl std::fmt::Debug for Emitter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emitter").field("rows", &self.rows).finish()
    }
}

impl Emitter {
    /// Whether the committed part of a resumed import must be parsed again for its rejects.
    pub(crate) fn replay_rejects(&self) -> bool {
        self.replay_rejects
    }

    /// Records a row that was not imported.
    pub fn reject(&mut self, r: RowReject) {
        self.rejects.push(r);
    }

    /// Records a row left out on purpose (a job step): listed like a reject, counted apart.
    pub fn skip(&mut self, r: RowReject) {
        self.skipped += 1;
        self.rejects.push(r);
    }

    /// Notes that `user` works in `project` on `cluster` (cheap when already seen).
    pub fn member(
        &mut self,
        cluster: &str,
        resource_manager: &str,
        user: &str,
        project: &str,
        last_updated_at: &str,
    ) {
        if user.is_empty() && project.is_empty() {
            return;
        }
        self.key.clear();
        for part in [cluster, "\u{0}", user, "\u{0}", project] {
            self.key.push_str(part);
        }
        if self.seen.contains(self.key.as_str()) {
            return;
        }
        self.seen.insert(self.key.clone());
        self.members.push(Membership {
            cluster_id: cluster.to_string(),
            resource_manager: resource_manager.to_string(),
            user: user.to_string(),
            project: project.to_string(),
            last_updated_at: last_updated_at.to_string(),
        });
    }

    /// Counts one source row (imported, rejected or skipped) that ends at `position`; ships
    /// the batch when it is full. Returns `false` when the import was abandoned.
    pub fn row_done(&mut self, position: u64) -> bool {
        self.rows += 1;
        if self.builder.len() >= self.batch_rows
            || self.rows as usize >= self.batch_rows.saturating_mul(4)
        {
            return self.flush(position);
        }
        !self.closed
    }

    /// Ships what is pending (also an empty batch, to record progress).
    pub fn flush(&mut self, position: u64) -> bool {
        self.send(position, false)
    }

    fn send(&mut self, position: u64, last: bool) -> bool {
        if self.closed {
            return false;
        }
        let msg = BatchMsg {
            batch: self.builder.finish(),
            registry: self.builder.registry().clone(),
            position,
            rows: std::mem::take(&mut self.rows),
            skipped: std::mem::take(&mut self.skipped),
            rejects: std::mem::take(&mut self.rejects),
            members: std::mem::take(&mut self.members),
            consumed: self.consumed.load(Ordering::Relaxed),
            last,
        };
        if self.tx.blocking_send(Msg::Batch(Box::new(msg))).is_err() {
            self.closed = true;
        }
        !self.closed
    }

    /// Accounts for a row an earlier run committed (at or before `position`, the resume point)
    /// that was parsed again only to report it if it is rejected or skipped: the unit it built
    /// and its memberships are dropped (they are stored already). Returns `false` when the
    /// import was abandoned.
    pub(crate) fn replayed(&mut self, position: u64) -> bool {
        self.members.clear();
        if self.builder.len() >= self.batch_rows {
            drop(self.builder.finish());
        }
        if self.rejects.len() >= self.batch_rows {
            // Ship the rejects in a batch without units that leaves the progress as it is.
            drop(self.builder.finish());
            return self.send(position, false);
        }
        !self.closed
    }

    /// Ends the replay of the committed part: drops what it built and reports how many rows an
    /// earlier run committed.
    pub(crate) fn end_replay(&mut self, rows: u64) {
        drop(self.builder.finish());
        self.members.clear();
        self.resumed(rows);
    }

    /// Reports rows skipped by a resume.
    pub(crate) fn resumed(&mut self, rows: u64) {
        if rows > 0 && self.tx.blocking_send(Msg::Resumed(rows)).is_err() {
            self.closed = true;
        }
    }

    /// Whether the receiving side went away.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Shares the counter of consumed input bytes (progress estimates).
    pub(crate) fn set_consumed(&mut self, c: Arc<AtomicU64>) {
        self.consumed = c;
    }
}

/// One users or projects row being merged.
#[derive(Debug, Clone)]
struct MemberRow {
    uid: String,
    resource_manager: String,
    members: BTreeSet<String>,
    tags: String,
    last_updated_at: String,
    dirty: bool,
    /// Created or extended by this import (for the summary).
    touched: bool,
}

/// The users and projects tables as known to this import: what the store had, plus what the
/// imported units show. Lists only grow (an import never drops a membership).
#[derive(Debug, Default)]
struct Members {
    users: BTreeMap<(String, String), MemberRow>,
    projects: BTreeMap<(String, String), MemberRow>,
}

fn load_members(batches: &[RecordBatch], into: &mut BTreeMap<(String, String), MemberRow>) {
    for b in batches {
        let s = |i: usize| arrow::compute::cast(b.column(i), &arrow::datatypes::DataType::Utf8);
        let (Ok(uid), Ok(cl), Ok(rm), Ok(name), Ok(tags), Ok(upd)) =
            (s(0), s(1), s(2), s(3), s(5), s(6))
        else {
            continue;
        };
        let (uid, cl, rm, name, tags, upd) = (
            uid.as_string::<i32>(),
            cl.as_string::<i32>(),
            rm.as_string::<i32>(),
            name.as_string::<i32>(),
            tags.as_string::<i32>(),
            upd.as_string::<i32>(),
        );
        let Some(list) = b.column(4).as_list_opt::<i32>() else {
            continue;
        };
        let v = |a: &arrow::array::StringArray, i: usize| {
            if a.is_valid(i) {
                a.value(i).to_string()
            } else {
                String::new()
            }
        };
        for i in 0..b.num_rows() {
            let mut members = BTreeSet::new();
            if list.is_valid(i) {
                let items = list.value(i);
                if let Some(items) = items.as_string_opt::<i32>() {
                    for j in 0..items.len() {
                        if items.is_valid(j) {
                            members.insert(items.value(j).to_string());
                        }
                    }
                }
            }
            into.insert(
                (v(cl, i), v(name, i)),
                MemberRow {
                    uid: v(uid, i),
                    resource_manager: v(rm, i),
                    members,
                    tags: v(tags, i),
                    last_updated_at: v(upd, i),
                    dirty: false,
                    touched: false,
                },
            );
        }
    }
}

impl Members {
    async fn load(store: &Store, snap: &crate::store::Snapshot) -> Result<Members> {
        let mut m = Members::default();
        for (table, into) in [
            (Table::Users, &mut m.users),
            (Table::Projects, &mut m.projects),
        ] {
            for f in snap.manifest.files(table) {
                let batches = parquet_io::read(store, &f.path, None).await?;
                load_members(&batches, into);
            }
        }
        Ok(m)
    }

    fn add(&mut self, ms: &[Membership]) {
        fn one(
            map: &mut BTreeMap<(String, String), MemberRow>,
            m: &Membership,
            name: &str,
            member: &str,
        ) {
            if name.is_empty() {
                return;
            }
            let row = map
                .entry((m.cluster_id.clone(), name.to_string()))
                .or_insert_with(|| MemberRow {
                    uid: String::new(),
                    resource_manager: m.resource_manager.clone(),
                    members: BTreeSet::new(),
                    tags: "null".into(),
                    last_updated_at: m.last_updated_at.clone(),
                    dirty: true,
                    touched: true,
                });
            if !member.is_empty() && row.members.insert(member.to_string()) {
                row.dirty = true;
                row.touched = true;
                if m.last_updated_at > row.last_updated_at {
                    row.last_updated_at = m.last_updated_at.clone();
                }
            }
        }
        for m in ms {
            one(&mut self.users, m, &m.user, &m.project);
            one(&mut self.projects, m, &m.project, &m.user);
        }
    }

    /// Users and projects rows this import created or extended.
    fn touched(&self) -> (u64, u64) {
        let n = |m: &BTreeMap<(String, String), MemberRow>| {
            m.values().filter(|r| r.touched).count() as u64
        };
        (n(&self.users), n(&self.projects))
    }

    /// Rows changed since the last call, as batches for the users and projects tables.
    fn take_dirty(&mut self) -> Result<[(Table, Option<RecordBatch>); 2]> {
        let mut out = [(Table::Users, None), (Table::Projects, None)];
        for (slot, (table, map)) in out.iter_mut().zip([
            (Table::Users, &mut self.users),
            (Table::Projects, &mut self.projects),
        ]) {
            let schema = if table == Table::Projects {
                schema::projects_schema()
            } else {
                schema::users_schema()
            };
            let mut b = MembersBuilder::new(schema);
            let mut any = false;
            for ((cluster, name), row) in map.iter_mut() {
                if !row.dirty {
                    continue;
                }
                row.dirty = false;
                any = true;
                let list: Vec<&String> = row.members.iter().collect();
                let r = CeemsMemberRow {
                    uid: row.uid.clone(),
                    cluster_id: cluster.clone(),
                    resource_manager: row.resource_manager.clone(),
                    name: name.clone(),
                    members: serde_json::to_string(&list).unwrap_or_else(|_| "[]".into()),
                    tags: row.tags.clone(),
                    last_updated_at: row.last_updated_at.clone(),
                };
                b.append(&r, table.name())
                    .map_err(|e| Error::InvalidArgument(e.to_string()))?;
            }
            if any {
                slot.1 = Some(b.finish());
            }
        }
        Ok(out)
    }
}

/// What a file importer hands to [`run`].
pub(crate) struct Job<'a> {
    pub store: &'a Store,
    /// Source fingerprint (see [`fingerprint`]).
    pub source: String,
    /// What the manifest records as the operation, e.g. `import sacct jobs.log`.
    pub label: String,
    pub batch_rows: usize,
    /// Size of the input on disk, for progress estimates (0 when unknown).
    pub file_bytes: u64,
    /// Rows the source holds, when known up front (Parquet metadata).
    pub total_rows: Option<u64>,
    pub observer: &'a dyn ImportObserver,
}

/// Runs `produce` on a reader thread and commits what it emits, batch by batch. `produce`
/// gets the position to resume after (0 for a fresh import) and the emitter; it returns the
/// final position.
pub(crate) async fn run<F>(
    job: Job<'_>,
    registry: KeyRegistry,
    tz: DataTz,
    produce: F,
) -> Result<ImportSummary>
where
    F: FnOnce(u64, &mut Emitter) -> Result<u64> + Send + 'static,
{
    let store = job.store;
    let observer = job.observer;
    let snap = store.snapshot().await?;
    let (resume_after, listed_before) = match snap.manifest.sources.get(&job.source) {
        Some(p) if !p.complete => (p.position, p.listed),
        _ => (0, 0),
    };
    let replay = resume_after > 0 && listed_before > 0;
    // Rows listed among the committed part; a replay lists (and counts) them again.
    let mut listed_total = if replay { 0 } else { listed_before };
    if resume_after > 0 {
        observer.message(&format!(
            "resuming after position {resume_after}: an earlier run committed everything before it"
        ));
    }
    let mut members = Members::load(store, &snap).await?;
    if let Some(t) = job.total_rows {
        observer.total(t);
    }

    let (tx, mut rx) = tokio::sync::mpsc::channel::<Msg>(1);
    let batch_rows = job.batch_rows.max(1);
    let reader_registry = registry.clone();
    let reader = std::thread::Builder::new()
        .name("import-reader".into())
        .spawn(move || {
            let mut em = Emitter {
                tx: tx.clone(),
                builder: UnitsBuilder::new(reader_registry, tz),
                rejects: Vec::new(),
                members: Vec::new(),
                seen: HashSet::new(),
                key: String::new(),
                rows: 0,
                skipped: 0,
                batch_rows,
                consumed: Arc::new(AtomicU64::new(0)),
                closed: false,
                replay_rejects: replay,
            };
            match produce(resume_after, &mut em) {
                Ok(position) => {
                    // The last (possibly empty) batch marks the source complete.
                    em.send(position, true);
                }
                Err(e) => {
                    let _ = tx.blocking_send(Msg::Failed(e));
                }
            }
        })
        .map_err(|e| Error::Io {
            path: job.label.clone(),
            source: e,
        })?;

    let mut summary = ImportSummary::default();
    let mut result = Ok(());
    let mut last_position = resume_after;
    let mut rows_seen = 0u64;
    let mut completed = false;
    while let Some(msg) = rx.recv().await {
        match msg {
            Msg::Resumed(n) => {
                summary.rows_resumed += n;
            }
            Msg::Failed(e) => {
                result = Err(e);
                break;
            }
            Msg::Batch(b) => {
                let b = *b;
                summary.rows_read += b.rows;
                summary.rows_skipped += b.skipped;
                summary.rows_rejected += b.rejects.len() as u64 - b.skipped;
                for r in &b.rejects {
                    observer.reject(r);
                }
                members.add(&b.members);
                let mut t = Transaction::new(
                    store,
                    format!("{} (up to position {})", job.label, b.position),
                );
                t.upsert_units(b.batch, &b.registry);
                for (table, batch) in members.take_dirty()? {
                    if let Some(batch) = batch {
                        t.upsert_members(table, batch);
                    }
                }
                listed_total += b.rejects.len() as u64;
                t.set_source_progress(
                    &job.source,
                    SourceProgress {
                        position: b.position,
                        complete: b.last,
                        listed: listed_total,
                    },
                );
                match t.commit().await {
                    Ok(o) => {
                        last_position = b.position;
                        completed = b.last;
                        summary.add(&o);
                        observer.committed(&o);
                        rows_seen += b.rows;
                        if job.total_rows.is_none() && job.file_bytes > 0 && b.consumed > 0 {
                            let est = (rows_seen as f64 * job.file_bytes as f64 / b.consumed as f64)
                                as u64;
                            observer.total(est.max(rows_seen));
                        }
                        observer.advance(b.rows);
                    }
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                }
            }
        }
    }
    drop(rx);
    let _ = reader.join();
    result?;
    if !completed {
        return Err(Error::InvalidArgument(format!(
            "{}: the reader stopped before the end of the input (last committed position {last_position})",
            job.label
        )));
    }
    observer.total(rows_seen);
    (summary.users, summary.projects) = members.touched();
    Ok(summary)
}

// ---------------------------------------------------------------------------------------------
// Line-oriented formats

/// What a line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LineKind {
    /// A header, comment or blank line: not a row.
    NotData,
    /// A data row, to be parsed.
    Data,
}

/// A line-oriented format (sacct, SWF, NDJSON).
pub(crate) trait LineFormat: Send {
    /// Looks at a line: headers and comments are consumed here (also when resuming).
    fn classify(&mut self, line_no: u64, line: &str) -> Result<LineKind>;
    /// Parses a data line into the emitter (a unit, a reject or a skip).
    fn parse(&mut self, line_no: u64, line: &str, out: &mut Emitter);
}

/// `line` without the UTF-8 byte order mark some editors put at the start of a file (only
/// the first line can carry one).
pub(crate) fn without_bom(line_no: u64, line: &str) -> &str {
    if line_no == 1 {
        line.strip_prefix('\u{feff}').unwrap_or(line)
    } else {
        line
    }
}

/// Reads every line of `input` into `format`; returns the last line number.
pub(crate) fn read_lines(
    input: Input,
    resume_after: u64,
    format: &mut dyn LineFormat,
    out: &mut Emitter,
) -> Result<u64> {
    out.set_consumed(Arc::clone(&input.consumed));
    let (path, compression) = (input.path, input.compression);
    let mut reader = input.reader;
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut lossy = String::new();
    let mut line_no = 0u64;
    let mut resumed = 0u64;
    let mut resuming = resume_after > 0;
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf).map_err(|e| Error::Io {
            path: match compression {
                Compression::None => format!("{path} (after line {line_no})"),
                c => format!("{path} ({} data, after line {line_no})", c.name()),
            },
            source: e,
        })?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let mut end = buf.len();
        while end > 0 && (buf[end - 1] == b'\n' || buf[end - 1] == b'\r') {
            end -= 1;
        }
        let line: &str = match std::str::from_utf8(&buf[..end]) {
            Ok(s) => s,
            Err(_) => {
                lossy.clear();
                lossy.push_str(&String::from_utf8_lossy(&buf[..end]));
                &lossy
            }
        };
        let line = without_bom(line_no, line);
        let kind = format.classify(line_no, line)?;
        if resuming {
            if line_no <= resume_after {
                if kind == LineKind::Data {
                    resumed += 1;
                    if out.replay_rejects() {
                        format.parse(line_no, line, out);
                        if !out.replayed(resume_after) {
                            return Ok(resume_after);
                        }
                    }
                }
                continue;
            }
            resuming = false;
            out.end_replay(resumed);
        }
        if kind == LineKind::NotData {
            continue;
        }
        format.parse(line_no, line, out);
        if !out.row_done(line_no) {
            return Ok(line_no);
        }
    }
    if resuming {
        out.end_replay(resumed);
    }
    Ok(line_no.max(resume_after))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_bytes_decide_the_compression() {
        assert_eq!(Compression::detect(&[0x1f, 0x8b, 8, 0]), Compression::Gzip);
        assert_eq!(
            Compression::detect(&[0xfd, b'7', b'z', b'X', b'Z', 0]),
            Compression::Xz
        );
        assert_eq!(
            Compression::detect(&[0x28, 0xb5, 0x2f, 0xfd]),
            Compression::Zstd
        );
        assert_eq!(Compression::detect(b"jobid|"), Compression::None);
        assert_eq!(Compression::detect(b""), Compression::None);
    }

    #[test]
    fn civil_dates_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2024, 3, 31), 19_813);
        for z in [-800_000i64, -1, 0, 1, 11_016, 19_813, 2_932_896] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
    }

    #[test]
    fn times_parse_with_and_without_offsets_across_dst() {
        let mut c = Clock::new(DataTz::parse("Europe/Paris").unwrap());
        let a = c.parse("2024-03-31T01:30:00").unwrap().unwrap();
        let b = c.parse("2024-03-31T03:30:00").unwrap().unwrap();
        assert_eq!(b - a, 3_600_000);
        // 01:30 CET is 00:30 UTC.
        assert_eq!(a, 1_711_845_000_000);
        assert_eq!(c.parse("2024-03-31T00:30:00Z").unwrap(), Some(a));
        assert_eq!(c.parse("2024-03-31T02:30:00+0200").unwrap(), Some(a));
        assert_eq!(c.parse("2024-03-31T02:30:00+02:00").unwrap(), Some(a));
        assert_eq!(c.parse("2024-03-30T19:30:00-05").unwrap(), Some(a));
        assert_eq!(c.parse("2024-03-31 01:30:00").unwrap(), Some(a));
        for unset in ["Unknown", "None", "", "N/A", "0"] {
            assert_eq!(c.parse(unset).unwrap(), None, "{unset:?}");
        }
        for bad in [
            "2024-02-30T00:00:00",
            "2024-03-31T25:00:00",
            "yesterday",
            "2024-03-31T01:30:00+2",
        ] {
            assert!(c.parse(bad).is_err(), "{bad:?}");
        }
        // Every wall-clock hour of 2024 in Paris agrees with the uncached conversion.
        let tz = DataTz::parse("Europe/Paris").unwrap();
        let start = days_from_civil(2024, 1, 1) * 86_400;
        for h in 0..(366 * 24) {
            let local = start + h * 3600 + 1799;
            let naive = chrono::DateTime::from_timestamp(local, 0)
                .unwrap()
                .naive_utc();
            assert_eq!(
                c.local_to_utc(local) * 1000,
                tz.local_to_ms(naive),
                "hour {h}"
            );
        }
    }

    #[test]
    fn rendering_matches_the_original_formats() {
        let mut c = Clock::new(DataTz::parse("Europe/Paris").unwrap());
        let mut s = String::new();
        c.render(1_645_450_622_000, &mut s);
        assert_eq!(s, "2022-02-21T14:37:02+0100");
        s.clear();
        c.render(1_719_924_579_000, &mut s);
        assert_eq!(s, "2024-07-02T14:49:39+0200");
        s.clear();
        c.render_naive(1_719_924_579_000, &mut s);
        assert_eq!(s, "2024-07-02T14:49:39");
        let mut ny = Clock::new(DataTz::parse("America/New_York").unwrap());
        s.clear();
        ny.render(1_645_450_622_000, &mut s);
        assert_eq!(s, "2022-02-21T08:37:02-0500");
        // Against chrono for many instants.
        let tz = DataTz::parse("Europe/Paris").unwrap();
        for i in 0..5000i64 {
            let ms = 1_600_000_000_000 + i * 7_919_000;
            s.clear();
            c.render(ms, &mut s);
            assert_eq!(s, crate::time::render_ceems_time(ms, tz));
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("00:00:24"), Some(24));
        assert_eq!(
            parse_duration("10-13:27:06"),
            Some(10 * 86_400 + 13 * 3600 + 27 * 60 + 6)
        );
        assert_eq!(parse_duration("05:07"), Some(307));
        assert_eq!(parse_duration("05:07.250"), Some(307));
        assert_eq!(parse_duration("3600"), Some(3600));
        assert_eq!(parse_duration("Partition_Limit"), None);
        assert_eq!(parse_duration("UNLIMITED"), None);
        let mut s = String::new();
        push_elapsed(&mut s, 90_061);
        assert_eq!(s, "1-01:01:01");
        for (secs, want) in [
            (0, "00:00:00"),
            (59, "00:00:59"),
            (86_399, "23:59:59"),
            (86_400, "1-00:00:00"),
            (-5, "00:00:00"),
            (12 * 86_400 + 3 * 3600 + 4 * 60 + 5, "12-03:04:05"),
        ] {
            s.clear();
            push_elapsed(&mut s, secs);
            assert_eq!(s, want, "{secs} s");
        }
    }

    #[test]
    fn integers_render_like_display() {
        let mut s = String::new();
        for v in [
            0,
            7,
            -7,
            10,
            99,
            100,
            -1_000_001,
            i64::MAX,
            i64::MIN,
            1_711_845_000_000,
        ] {
            s.clear();
            push_int(&mut s, v);
            assert_eq!(s, v.to_string());
        }
        for (v, width) in [
            (0u64, 1usize),
            (7, 3),
            (42, 2),
            (42, 1),
            (1234, 2),
            (5, 0),
            (9, 20),
        ] {
            s.clear();
            push_uint(&mut s, v, width);
            assert_eq!(s, format!("{v:0width$}"), "{v} width {width}");
        }
        s.clear();
        push_uint(&mut s, u64::MAX, 3);
        assert_eq!(s, u64::MAX.to_string());
    }

    #[test]
    fn trim_is_str_trim() {
        for t in [
            "", " ", "a", " a", "a ", "\ta\n", "ab", "a b", "\u{a0}x", "x\u{a0}", "\u{2003}", "é",
            " é ", "\u{a0}", "x\u{85}", "日本", "-", "a\r", "\u{85}",
        ] {
            assert_eq!(trim(t), t.trim(), "{t:?}");
        }
    }

    #[test]
    fn a_byte_order_mark_is_dropped_from_the_first_line_only() {
        assert_eq!(without_bom(1, "\u{feff}JobIDRaw|User"), "JobIDRaw|User");
        assert_eq!(without_bom(1, "JobIDRaw|User"), "JobIDRaw|User");
        assert_eq!(without_bom(2, "\u{feff}x"), "\u{feff}x");
    }

    #[test]
    fn json_strings_are_escaped() {
        let mut s = String::new();
        push_json_str(&mut s, "a\"b\\c\n\u{1}`;");
        assert_eq!(s, "\"a\\\"b\\\\c\\n\\u0001`;\"");
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v, "a\"b\\c\n\u{1}`;");
        // Every ASCII character, multi-byte characters next to escapes: serde_json reads back
        // the same text.
        let all: String = (0u8..0x80)
            .map(char::from)
            .chain("é日\u{1f600}\"é\n".chars())
            .collect();
        for t in [
            all.as_str(),
            "",
            "plain",
            "日本\t語",
            "\u{1f}\u{7f}",
            "/home/u/é d\\x",
        ] {
            s.clear();
            push_json_str(&mut s, t);
            let back: String = serde_json::from_str(&s).unwrap();
            assert_eq!(back, t);
        }
    }
}
