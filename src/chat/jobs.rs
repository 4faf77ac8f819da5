//! The work behind the conversation's actions that does not depend on the platform: each
//! function carries out one action and returns the event that answers it.

use super::conversation::{Event, PhotoRef};
use crate::crawl::{self, CrawlError, CrawlOptions};
use crate::store::{SessionKey, SessionStore};

/// The prefix of a [`PhotoRef::file_id`] that names photo bytes already in the store (rather
/// than a file on the chat platform).
pub const STORED: &str = "store:";

/// [`super::conversation::Action::Crawl`]: finds photos of `name` with the same crawl as the
/// command line, keeps their bytes in the session's store, and answers with the photos and the
/// credit lines their licences require.
pub fn crawl_for_session(
    store: &dyn SessionStore,
    key: &SessionKey,
    name: &str,
    options: &CrawlOptions,
) -> Event {
    let result = match crawl::crawl(name, options) {
        Ok(r) => r,
        Err(CrawlError::UnknownName(_)) => {
            return Event::CrawlUnknown {
                name: name.to_string(),
            }
        }
        Err(CrawlError::NoPhotos(_)) => {
            return Event::Crawled {
                name: name.to_string(),
                photos: Vec::new(),
                attributions: Vec::new(),
            }
        }
        Err(e) => {
            return Event::CrawlFailed {
                reason: e.to_string(),
            }
        }
    };
    let mut photos = Vec::new();
    for p in &result.photos {
        match store.put_photo(key, &p.bytes) {
            Ok(hash) => photos.push(PhotoRef {
                file_id: format!("{STORED}{hash}"),
                as_file: true,
            }),
            Err(e) => {
                return Event::CrawlFailed {
                    reason: e.to_string(),
                }
            }
        }
    }
    Event::Crawled {
        name: result.person.label.clone(),
        attributions: crawl::attributions(&result),
        photos,
    }
}
