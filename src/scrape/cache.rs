//! The page cache, once [`use_cache`] names its directory (`send-now` and the daemon do):
//! each URL's last good page is kept with its `ETag` / `Last-Modified`, fetches are
//! conditional (`If-None-Match` / `If-Modified-Since`, a `304` serves the copy), and when the
//! site fails the copy stands in, marked [`Page::stale`].
//!
//! The cache never makes a menu staler than the page would be:
//! - a copy is one file (its metadata line, then the body) written under a unique temp
//!   name, fsynced, then renamed: two writers never pair one's page with the other's
//!   metadata, and a crash leaves the old copy or the new one;
//! - the metadata carries the body's SHA-256: a copy whose body does not match (cut short,
//!   edited) is no copy, so no `304` is ever answered with it;
//! - a copy is served for a failed site only when younger than [`MAX_STALE_AGE`] and not
//!   stamped after now (a run with the clock ahead);
//! - whether the copy covers the date asked for is the parser's call; a page read without
//!   a date of its own (`undated = "today"`, or css mode) is read from its copy as the
//!   day's page only when [`undated_copy_serves`] admits the copy: fetched the same local
//!   day, before the meal's slot. Otherwise only a date the page states counts.
//!
//! I/O: the cache directory; the clock comes from [`use_cache`].

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock, PoisonError, RwLock};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use sha2::{Digest, Sha256};

use super::fetch::{FetchError, Got, Page, Stale};
use crate::meal::Meal;

/// A cached copy older than this is never served: an undated page fetched yesterday
/// evening must not pass for this morning's menu (a week grid from breakfast still serves
/// lunch and dinner).
pub const MAX_STALE_AGE: Duration = Duration::from_secs(12 * 3600);

/// Largest cache file read back: a page is at most 8 MiB, plus its metadata line.
const MAX_FILE_BYTES: u64 = (8 << 20) + (64 << 10);

/// When each meal is served: the schedule's zone and crons, which date an undated copy.
#[derive(Debug, Clone)]
pub struct Slots {
    tz: Tz,
    meals: BTreeMap<Meal, croner::Cron>,
}

impl Slots {
    /// The slots of a schedule read in `tz`.
    pub fn new(tz: Tz, meals: BTreeMap<Meal, croner::Cron>) -> Slots {
        Slots { tz, meals }
    }

    fn tz(&self) -> Tz {
        self.tz
    }

    /// `meal`'s slot on `date`, if its cron fires that day.
    fn on(&self, date: NaiveDate, meal: Meal) -> Option<DateTime<Utc>> {
        let cron = self.meals.get(&meal)?;
        let tz = self.tz();
        let midnight = tz
            .from_local_datetime(&date.and_hms_opt(0, 0, 0)?)
            .earliest()?
            .with_timezone(&Utc);
        let slot = crate::schedule::next_after(cron, tz, midnight - chrono::TimeDelta::seconds(1))?;
        (slot.date_naive() == date).then(|| slot.with_timezone(&Utc))
    }
}

/// Where the page cache lives, the clock that dates its copies and the meals' slots (as
/// the schedule in force has them: a reload may move them).
#[derive(Debug)]
pub(super) struct Cache {
    dir: PathBuf,
    clock: Arc<dyn crate::clock::Clock>,
    slots: RwLock<Slots>,
}

pub(super) static CACHE: OnceLock<Cache> = OnceLock::new();

/// Keep each page's last good copy in `dir` from now on (once per process; later calls
/// are ignored). Commands that only look (`scrape`, `preview`) do not call it.
pub fn use_cache(dir: &Path, clock: Arc<dyn crate::clock::Clock>, slots: Slots) {
    let _ = CACHE.set(Cache {
        dir: dir.to_path_buf(),
        clock,
        slots: RwLock::new(slots),
    });
}

/// The schedule changed (a reload): date undated copies by its slots from now on.
pub fn follow_slots(slots: Slots) {
    if let Some(cache) = CACHE.get() {
        cache.set_slots(slots);
    }
}

/// What the cache keeps beside a page: the first line of its file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(super) struct Meta {
    pub(super) url: String,
    pub(super) etag: Option<String>,
    pub(super) last_modified: Option<String>,
    pub(super) content_type: Option<String>,
    pub(super) fetched_at: DateTime<Utc>,
    /// The body's SHA-256, hex.
    sha256: String,
}

/// FNV-1a: a stable file name per URL (std's hasher may change between releases).
fn cache_name(url: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in url.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Cache {
    #[cfg(test)]
    fn new(dir: &Path, clock: Arc<dyn crate::clock::Clock>, slots: Slots) -> Cache {
        Cache {
            dir: dir.to_path_buf(),
            clock,
            slots: RwLock::new(slots),
        }
    }

    fn set_slots(&self, slots: Slots) {
        *self.slots.write().unwrap_or_else(PoisonError::into_inner) = slots;
    }

    fn file_name(url: &str) -> String {
        format!("{}.cached", cache_name(url))
    }

    /// The copy of `url`, if one is kept, is for this very URL and its body is the one its
    /// metadata describes.
    pub(super) fn load(&self, url: &str) -> Option<(Meta, Vec<u8>)> {
        let path = self.dir.join(Self::file_name(url));
        let mut raw = Vec::new();
        std::fs::File::open(&path)
            .ok()?
            .take(MAX_FILE_BYTES)
            .read_to_end(&mut raw)
            .ok()?;
        let split = raw.iter().position(|&b| b == b'\n')?;
        let meta: Meta = serde_json::from_slice(&raw[..split]).ok()?;
        if meta.url != url {
            return None;
        }
        let body = raw.split_off(split + 1);
        if sha256(&body) != meta.sha256 {
            tracing::warn!(%url, file = %path.display(), "the cached copy does not match its checksum (cut short or changed): not used");
            return None;
        }
        Some((meta, body))
    }

    /// Keep `bytes` as the copy of `url`: one file, metadata line first, written atomically.
    fn save(&self, meta: &Meta, bytes: &[u8]) -> std::io::Result<()> {
        crate::ledger::create_private_dir(&self.dir)?;
        let meta = Meta {
            sha256: sha256(bytes),
            ..meta.clone()
        };
        let mut file = serde_json::to_vec(&meta).map_err(std::io::Error::other)?;
        file.push(b'\n');
        file.extend_from_slice(bytes);
        crate::secrets::write_atomic(&self.dir, &Self::file_name(&meta.url), &file)?;
        // The two files an older kbot kept per page, if any.
        let name = cache_name(&meta.url);
        for old in [format!("{name}.page"), format!("{name}.json")] {
            let _ = std::fs::remove_file(self.dir.join(old));
        }
        Ok(())
    }

    /// Why a copy of a page that states no date cannot stand in for `meal` on `date`:
    /// `None` when it was fetched that local day, before the meal's slot, and not after now.
    fn undated_refusal(
        &self,
        fetched_at: DateTime<Utc>,
        date: NaiveDate,
        meal: Meal,
    ) -> Option<String> {
        let slots = self.slots.read().unwrap_or_else(PoisonError::into_inner);
        let tz = slots.tz();
        let at = fetched_at.with_timezone(&tz);
        if fetched_at > self.clock.now() {
            return Some(format!(
                "the cached copy is stamped {}, after now",
                at.format("%Y-%m-%d %H:%M %Z")
            ));
        }
        if at.date_naive() != date {
            return Some(format!(
                "the page states no date and the cached copy is from {}, not {date}",
                at.format("%Y-%m-%d %H:%M %Z")
            ));
        }
        match slots.on(date, meal) {
            Some(slot) if fetched_at > slot => Some(format!(
                "the page states no date and the cached copy is from {}, after the {meal} slot at {}",
                at.format("%H:%M"),
                slot.with_timezone(&tz).format("%H:%M %Z")
            )),
            _ => None,
        }
    }
}

/// Whether a cached copy of a page that states no date of its own may be read as the menu
/// of `meal` on `date`: `Err` says why not (fetched another local day, after the meal's
/// slot, or stamped after now).
pub fn undated_copy_serves(stale: &Stale, date: NaiveDate, meal: Meal) -> Result<(), String> {
    match CACHE.get() {
        None => Err("no page cache in use".into()),
        Some(cache) => match cache.undated_refusal(stale.fetched_at, date, meal) {
            None => Ok(()),
            Some(why) => Err(why),
        },
    }
}

/// Keep a fresh page, serve the copy on `304`, or serve the copy (marked stale) when the
/// site failed and the copy is young enough and not from the future.
pub(super) fn settle_with_cache(
    cache: &Cache,
    url: &str,
    fetched: Result<Got, FetchError>,
    cached: Option<(Meta, Vec<u8>)>,
) -> Result<Page, FetchError> {
    let now = cache.clock.now();
    match (fetched, cached) {
        (Ok(got), Some((meta, bytes))) if got.not_modified => {
            tracing::debug!(%url, "not modified: using the cached copy");
            let meta = Meta {
                fetched_at: now,
                ..meta
            };
            if let Err(err) = cache.save(&meta, &bytes) {
                tracing::warn!(
                    "cannot update the page cache in {}: {err}",
                    cache.dir.display()
                );
            }
            Ok(Page {
                bytes,
                content_type: meta.content_type,
                stale: None,
                tls: None,
            })
        }
        (Ok(got), _) => {
            let meta = Meta {
                url: url.to_string(),
                etag: got.etag,
                last_modified: got.last_modified,
                content_type: got.page.content_type.clone(),
                fetched_at: now,
                sha256: String::new(),
            };
            if let Err(err) = cache.save(&meta, &got.page.bytes) {
                tracing::warn!(
                    "cannot keep a copy in the page cache {}: {err}",
                    cache.dir.display()
                );
            }
            Ok(got.page)
        }
        (Err(err), Some((meta, bytes))) => {
            if meta.fetched_at > now {
                tracing::warn!(%url, fetched_at = %meta.fetched_at, "{}; the cached copy is stamped after now (a run with the clock ahead?): not used", err.detail());
                return Err(err);
            }
            let age = (now - meta.fetched_at).to_std().unwrap_or(Duration::MAX);
            if age > MAX_STALE_AGE {
                return Err(err);
            }
            tracing::warn!(%url, fetched_at = %meta.fetched_at, "{}; using the cached copy", err.detail());
            Ok(Page {
                bytes,
                content_type: meta.content_type,
                stale: Some(Stale {
                    fetched_at: meta.fetched_at,
                    failure: err.detail(),
                }),
                tls: None,
            })
        }
        (Err(err), None) => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;

    const URL: &str = "http://127.0.0.1:9/menu";

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn cache(dir: &Path, now: &str) -> Cache {
        let lunch = crate::schedule::parse_cron("30 11 * * *").unwrap();
        let slots = Slots::new(
            chrono_tz::Asia::Seoul,
            BTreeMap::from([(Meal::Lunch, lunch)]),
        );
        Cache::new(dir, Arc::new(FixedClock(at(now))), slots)
    }

    fn page(body: &str) -> Got {
        Got {
            page: Page {
                bytes: body.as_bytes().to_vec(),
                content_type: Some("text/html".into()),
                stale: None,
                tls: None,
            },
            not_modified: false,
            etag: Some("\"v1\"".into()),
            last_modified: None,
        }
    }

    fn not_modified() -> Got {
        Got {
            page: Page::default(),
            not_modified: true,
            etag: Some("\"v1\"".into()),
            last_modified: None,
        }
    }

    fn down() -> FetchError {
        FetchError::Status {
            url: URL.into(),
            status: reqwest::StatusCode::BAD_GATEWAY,
        }
    }

    #[test]
    fn a_kept_copy_reads_back_whole_with_its_validators_and_is_one_file() {
        let dir = tempfile::tempdir().unwrap();
        let cache = cache(dir.path(), "2026-12-01T00:00:00Z");
        settle_with_cache(&cache, URL, Ok(page("<p>쌀밥</p>")), None).unwrap();
        let (meta, body) = cache.load(URL).expect("kept");
        assert_eq!(body, "<p>쌀밥</p>".as_bytes());
        assert_eq!(meta.etag.as_deref(), Some("\"v1\""));
        let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(files.len(), 1, "one file per page, no temp left: {files:?}");
        assert!(cache.load("http://127.0.0.1:9/other").is_none());
    }

    #[test]
    fn a_cut_short_copy_is_no_copy_so_a_304_cannot_serve_it() {
        let dir = tempfile::tempdir().unwrap();
        let cache = cache(dir.path(), "2026-12-01T00:00:00Z");
        settle_with_cache(&cache, URL, Ok(page("<p>쌀밥</p><p>미역국</p>")), None).unwrap();
        let file = dir.path().join(Cache::file_name(URL));
        let whole = std::fs::read(&file).unwrap();
        std::fs::write(&file, &whole[..whole.len() - 14]).unwrap();
        // fetch() loads before it asks: no copy, so no validators and no 304 to trust.
        assert!(cache.load(URL).is_none());
        // An intact copy answered with a 304 is served whole.
        settle_with_cache(&cache, URL, Ok(page("<p>쌀밥</p><p>미역국</p>")), None).unwrap();
        let kept = cache.load(URL);
        let served = settle_with_cache(&cache, URL, Ok(not_modified()), kept).unwrap();
        assert_eq!(served.bytes, "<p>쌀밥</p><p>미역국</p>".as_bytes());
    }

    #[test]
    fn a_copy_stamped_after_now_is_never_served_when_the_site_fails() {
        let dir = tempfile::tempdir().unwrap();
        let ahead = cache(dir.path(), "2026-12-02T02:00:00Z");
        settle_with_cache(&ahead, URL, Ok(page("<p>쌀밥</p>")), None).unwrap();
        let now = cache(dir.path(), "2026-12-01T02:00:00Z");
        let kept = now.load(URL);
        assert!(kept.is_some());
        let served = settle_with_cache(&now, URL, Err(down()), kept);
        assert!(
            matches!(served, Err(FetchError::Status { .. })),
            "{served:?}"
        );
        // A young copy from the past is served, marked stale.
        let later = cache(dir.path(), "2026-12-02T05:00:00Z");
        let served = settle_with_cache(&later, URL, Err(down()), later.load(URL)).unwrap();
        assert!(served.stale.is_some());
    }

    #[test]
    fn an_undated_copy_serves_only_the_same_local_day_before_the_slot() {
        let dir = tempfile::tempdir().unwrap();
        // Lunch on 2026-12-01 is at 11:30 KST = 02:30Z; now is 03:00Z (a recheck).
        let cache = cache(dir.path(), "2026-12-01T03:00:00Z");
        let date = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        // 23:00 KST the evening before.
        let evening = cache.undated_refusal(at("2026-11-30T14:00:00Z"), date, Meal::Lunch);
        assert!(evening.is_some_and(|why| why.contains("2026-11-30 23:00 KST")));
        // 09:00 KST that morning: fine.
        assert_eq!(
            cache.undated_refusal(at("2026-12-01T00:00:00Z"), date, Meal::Lunch),
            None
        );
        // 11:45 KST, after the slot.
        let after = cache.undated_refusal(at("2026-12-01T02:45:00Z"), date, Meal::Lunch);
        assert!(after.is_some_and(|why| why.contains("after the lunch slot at 11:30")));
        // From the future.
        assert!(
            cache
                .undated_refusal(at("2026-12-01T03:30:00Z"), date, Meal::Lunch)
                .is_some()
        );
        // A meal with no slot that day: the same local day is enough.
        assert_eq!(
            cache.undated_refusal(at("2026-12-01T02:45:00Z"), date, Meal::Dinner),
            None
        );
        // A reload moves lunch to 12:00: the 11:45 copy is now from before the slot.
        let noon = crate::schedule::parse_cron("0 12 * * *").unwrap();
        cache.set_slots(Slots::new(
            chrono_tz::Asia::Seoul,
            BTreeMap::from([(Meal::Lunch, noon)]),
        ));
        assert_eq!(
            cache.undated_refusal(at("2026-12-01T02:45:00Z"), date, Meal::Lunch),
            None
        );
    }

    #[test]
    fn concurrent_writers_never_mix_one_page_with_the_others_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Arc::new(cache(dir.path(), "2026-12-01T00:00:00Z"));
        let writers: Vec<_> = (0..4)
            .map(|i| {
                let cache = cache.clone();
                std::thread::spawn(move || {
                    for round in 0..50 {
                        let body = format!("<p>writer {i} round {round}</p>").repeat(i + 1);
                        let mut got = page(&body);
                        got.etag = Some(format!("\"w{i}\""));
                        settle_with_cache(&cache, URL, Ok(got), None).unwrap();
                    }
                })
            })
            .collect();
        for _ in 0..200 {
            if let Some((meta, body)) = cache.load(URL) {
                let text = String::from_utf8(body).unwrap();
                let writer = meta.etag.unwrap();
                assert!(
                    text.contains(&format!("writer {}", &writer[2..3])),
                    "{writer} {text}"
                );
            }
        }
        for writer in writers {
            writer.join().unwrap();
        }
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "no temp file left: {left:?}");
    }
}
