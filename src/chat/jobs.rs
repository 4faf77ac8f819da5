//! The work behind the conversation's actions that does not depend on the platform: each
//! function carries out one action and returns the event that answers it.

use super::conversation::{Action, Conversation, Event, JobKind, PhotoRef, State, Trouble};
use super::lock;
use crate::crawl::{self, CrawlError, CrawlOptions};
use crate::select::{AgeFacts, AnalyzedAlbum, DecideOptions, ReviewFace, Selection};
use crate::store::{SessionKey, SessionStore};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The prefix of a [`PhotoRef::file_id`] that names photo bytes already in the store (rather
/// than a file on the chat platform).
pub const STORED: &str = "store:";

/// [`super::conversation::Action::Crawl`]: finds photos of `name` with the same crawl as the
/// command line, keeps their bytes in the session's store, and answers with the photos and the
/// credit lines their licences require.
pub fn crawl_for_session(
    store: &dyn SessionStore<Conversation>,
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
                born: None,
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "name search failed");
            return Event::CrawlFailed {
                trouble: match e {
                    CrawlError::Fetch(_) | CrawlError::Provider(_) | CrawlError::Api { .. } => {
                        Trouble::SourcesUnavailable
                    }
                    CrawlError::NoContact => Trouble::NameSearchOff,
                    _ => Trouble::Internal,
                },
            };
        }
    };
    let mut photos = Vec::new();
    for p in &result.photos {
        match store.put_file(key, &p.bytes) {
            Ok(hash) => photos.push(PhotoRef {
                file_id: format!("{STORED}{hash}"),
                as_file: true,
                age: p.age,
            }),
            Err(e) => {
                tracing::error!(error = %e, "storing a found photo failed");
                return Event::CrawlFailed {
                    trouble: Trouble::Internal,
                };
            }
        }
    }
    Event::Crawled {
        name: result.person.label.clone(),
        attributions: crawl::attributions(&result),
        photos,
        born: result.person.born,
    }
}

/// Why a chat job failed. The details are for the log; the user is told [`JobError::trouble`].
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("a photo of this chat is no longer stored ({0}); send it again")]
    MissingPhoto(String),
    #[error(transparent)]
    Render(#[from] crate::render::RenderError),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("cannot write or read back the video in {path}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the contact sheet")]
    Sheet(#[source] image::ImageError),
    #[error("the compute device")]
    Device(#[source] crate::nets::NetError),
    #[error("the face networks")]
    FaceModels(#[source] crate::face::FaceError),
    #[error("cancelled")]
    Cancelled,
    #[error("job {0} failed on every delivery (its workers stopped or hung)")]
    GaveUp(String),
    #[error("the cluster")]
    Cluster(#[source] crate::cluster::ClusterError),
    #[error("the smallest video ({bytes} bytes) is still over the {limit} byte upload limit")]
    TooLarge { bytes: u64, limit: u64 },
}

impl JobError {
    /// What the user is told.
    pub fn trouble(&self) -> Trouble {
        match self {
            Self::MissingPhoto(_) => Trouble::PhotosGone,
            Self::TooLarge { .. } => Trouble::VideoTooLarge,
            _ => Trouble::Internal,
        }
    }
}

/// A chat's album after analysis: what the render needs, kept in memory between the review
/// and the render (and made again from the stored photos after a restart).
pub struct SessionAnalysis {
    /// The album, its faces, and the album's own selection; its age facts hold the person's
    /// birth date (when known) and the ages the photos' sources gave, by intake name.
    pub analyzed: AnalyzedAlbum,
    /// The review's faces; face number N is `review[N - 1]`.
    pub review: Vec<ReviewFace>,
}

/// The photos' bytes from the store, named by their place in the chat ("photo 3").
fn stored_photos(
    store: &dyn SessionStore<Conversation>,
    photos: &[PhotoRef],
) -> Result<Vec<(String, Vec<u8>)>, JobError> {
    photos
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let hash = p.file_id.strip_prefix(STORED).unwrap_or(&p.file_id);
            store
                .get_file(hash)?
                .map(|bytes| (format!("photo {}", i + 1), bytes))
                .ok_or_else(|| JobError::MissingPhoto(format!("photo {}", i + 1)))
        })
        .collect()
}

/// Ages the photos' sources gave (a name search's dated photos), by the names intake gives them.
fn source_ages(photos: &[PhotoRef]) -> Vec<(String, f64)> {
    photos
        .iter()
        .enumerate()
        .filter_map(|(i, p)| Some((format!("photo {}", i + 1), p.age?)))
        .collect()
}

/// Takes the chat's photos in and finds and judges their faces, as the CLI's `analyze` does.
pub fn analyze_photos(
    store: &dyn SessionStore<Conversation>,
    photos: &[PhotoRef],
    born: Option<chrono::NaiveDate>,
    analyzer: &crate::face::FaceAnalyzer,
    config: &crate::config::Config,
) -> Result<SessionAnalysis, JobError> {
    let sources = stored_photos(store, photos)?;
    let album = crate::album::intake(
        &sources,
        &crate::album::IntakeOptions::from_config(&config.album),
        &|| {},
    );
    drop(sources);
    let faces = analyzer.analyze_album(&album, &|| {});
    let ages = AgeFacts {
        born,
        fixed: source_ages(photos),
    };
    let analyzed = AnalyzedAlbum::judge(album, faces, DecideOptions::from_config(config), ages);
    let review = analyzed.selected().review_faces();
    Ok(SessionAnalysis { analyzed, review })
}

/// Side of a contact-sheet tile before the sheet scales it.
const SHEET_TILE: u32 = 256;

impl SessionAnalysis {
    /// The review's faces for the conversation: numbered from 1, ages, and left out when the
    /// album would leave them out (suspected intruders and low-quality faces), so that the user
    /// sees and decides every one.
    pub fn summaries(&self) -> Vec<super::conversation::FaceSummary> {
        self.review
            .iter()
            .enumerate()
            .map(|(n, r)| super::conversation::FaceSummary {
                number: n + 1,
                age: r.age,
                left_out: !r.used,
                removed: false,
            })
            .collect()
    }

    /// The album: photos, duplicates and the files left out.
    pub fn album(&self) -> &crate::album::Album {
        &self.analyzed.album
    }

    /// Photos without a capture date.
    pub fn undated(&self) -> usize {
        self.album()
            .photos
            .iter()
            .filter(|p| p.capture_date.is_none())
            .count()
    }

    /// The numbered contact sheet of the review's faces as JPEG: suspected intruders framed in
    /// red, other left-out faces dimmed.
    pub fn sheet_jpeg(&self) -> Result<Vec<u8>, JobError> {
        let picks: Vec<(usize, usize)> = self.review.iter().map(|r| (r.photo, r.face)).collect();
        let tiles = self.analyzed.selected().tiles(&picks, SHEET_TILE);
        let sheet = crate::sheet::render(&tiles);
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 88)
            .encode_image(&sheet)
            .map_err(JobError::Sheet)?;
        Ok(out)
    }

    /// The album's selection with the user's choices: exactly the faces numbered in `keep` are
    /// used, and the ages fixed by number win over the sources' (the last match counts).
    fn selection(&self, keep: &[usize], ages: &BTreeMap<usize, f64>) -> Selection {
        let review = |n: usize| n.checked_sub(1).and_then(|i| self.review.get(i));
        let kept: Vec<(usize, usize)> = keep
            .iter()
            .filter_map(|&n| review(n))
            .map(|r| (r.photo, r.face))
            .collect();
        let own = &self.analyzed.selection.ages;
        let by_user = ages.iter().filter_map(|(&n, &age)| {
            let r = review(n)?;
            Some((self.album().photos[r.photo].source.clone(), age))
        });
        let facts = AgeFacts {
            born: own.born,
            fixed: own.fixed.iter().cloned().chain(by_user).collect(),
        };
        self.analyzed.keeping(&kept, facts)
    }
}

/// A render's outcome: the video's bytes, whether it is MP4, and the side it was shrunk to
/// when the first try was over the upload limit.
pub struct RenderedVideo {
    pub bytes: Vec<u8>,
    pub mp4: bool,
    pub shrunk: Option<u32>,
    /// The generative renderer was asked for but has no imported weights: morph was used.
    pub fell_back_to_morph: bool,
}

/// What the user chose in the review.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RenderChoices {
    /// Face numbers to use.
    pub keep: Vec<usize>,
    /// Ages fixed by face number.
    pub ages: std::collections::BTreeMap<usize, f64>,
    pub settings: super::conversation::ChatSettings,
}

/// Renders the reviewed album with the chat's choices: the faces numbered in `keep`, ages fixed
/// by number, and the chat's settings over the config's. A GIF predicted to be over `max_bytes`
/// is rendered at the largest side predicted to fit; a video that still comes out over it is
/// made again at the side its real size predicts (down to 128 px).
pub fn render_video(
    analysis: &SessionAnalysis,
    choices: &RenderChoices,
    config: &crate::config::Config,
    engines: &crate::inference::Resident,
    max_bytes: u64,
    cancel: &crate::leaves::cancel::CancelToken,
    progress: &(dyn Fn(u8) + Sync),
) -> Result<RenderedVideo, JobError> {
    use crate::config::RendererKind;
    use crate::render::{self, Output, RenderError, RenderRequest, RenderSettings, VideoFormat};
    let RenderChoices {
        keep,
        ages,
        settings,
    } = choices;
    let mut overrides = settings.render_overrides();
    let fell_back_to_morph = settings.renderer == RendererKind::Stylegan
        && crate::lapse::latent::find_checkpoint(
            &config.data_dir().join("models"),
            settings.generator,
        )
        .is_err();
    if fell_back_to_morph {
        overrides.renderer = Some(RendererKind::Morph);
    }
    let mut config = overrides.apply(config)?;
    let mp4 = settings.mp4 && crate::video::mp4::available();
    let format = if mp4 {
        VideoFormat::Mp4
    } else {
        VideoFormat::Gif
    };
    let selection = analysis.selection(keep, ages);
    let dir = config.data_dir().join("renders");
    let io = |path: &std::path::Path| {
        let path = path.display().to_string();
        move |source| JobError::Io { path, source }
    };
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let requested = config.render.size;
    loop {
        let render_settings = RenderSettings::from_config(&config)?;
        let file = tempfile::Builder::new()
            .prefix("render-")
            .suffix(&format!(".{}", format.extension()))
            .tempfile_in(&dir)
            .map_err(io(&dir))?;
        let request = RenderRequest {
            album: analysis.analyzed.with(&selection),
            settings: &render_settings,
            output: Output::File {
                path: file.path(),
                format,
                max_bytes: Some(max_bytes),
            },
        };
        let report = |done: usize, total: usize| {
            progress((done * 100 / total.max(1)).min(99) as u8);
        };
        let rendered = match render::run(&request, engines, &report, cancel) {
            Err(RenderError::Cancelled) => return Err(JobError::Cancelled),
            other => other?,
        };
        let bytes = std::fs::read(file.path()).map_err(io(file.path()))?;
        if bytes.len() as u64 <= max_bytes {
            progress(100);
            return Ok(RenderedVideo {
                bytes,
                mp4,
                shrunk: (rendered.size != requested).then_some(rendered.size),
                fell_back_to_morph,
            });
        }
        let size = render::fitting_side(rendered.size, bytes.len() as u64, max_bytes);
        if size < render::MIN_FITTING_SIDE {
            return Err(JobError::TooLarge {
                bytes: bytes.len() as u64,
                limit: max_bytes,
            });
        }
        tracing::info!(
            bytes = bytes.len(),
            max_bytes,
            from = rendered.size,
            to = size,
            "video over the upload limit; rendering it smaller"
        );
        config.render.size = size;
    }
}

/// What a job came to: messages for the session (notices about its photos), then the event
/// that answers the job. The same whether the job ran in this process or on a worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub replies: Vec<Action>,
    pub event: Event,
}

impl Outcome {
    /// A failed job: the error goes to the log, the user is told its [`JobError::trouble`].
    pub fn failed(kind: JobKind, error: &JobError) -> Self {
        tracing::warn!(error = %crate::chain::Chain(error), ?kind, "job failed");
        let trouble = error.trouble();
        Self {
            replies: Vec::new(),
            event: match kind {
                JobKind::Analysis => Event::AnalysisFailed { trouble },
                JobKind::Render => Event::RenderFailed { trouble },
            },
        }
    }
}

/// What the jobs of a process run with: its settings, the face networks (loaded on first use),
/// the analyses made, by session (a render after a review uses the review's analysis; one made
/// elsewhere or before a restart is made again from the stored photos), and the resident
/// generative engine every render shares. One per process: the chat service's own lanes or a
/// cluster worker.
pub struct Workbench {
    config: crate::config::Config,
    analyzer: Mutex<Option<Arc<Mutex<crate::face::FaceAnalyzer>>>>,
    made: Mutex<HashMap<SessionKey, Made>>,
    engines: crate::inference::Resident,
}

/// An analysis and the photos it was made of.
struct Made {
    photos: Vec<PhotoRef>,
    analysis: Arc<SessionAnalysis>,
}

impl Workbench {
    pub fn new(config: crate::config::Config) -> Self {
        let engines = crate::render::resident_engines(&config).unwrap_or_else(|e| {
            tracing::error!(error = %e, "generative renders will run on the CPU");
            crate::inference::Resident::new(crate::inference::EngineOptions::default())
        });
        Self {
            config,
            analyzer: Mutex::new(None),
            made: Mutex::new(HashMap::new()),
            engines,
        }
    }

    /// The process's generative engine.
    pub fn engines(&self) -> &crate::inference::Resident {
        &self.engines
    }

    fn analyzer(&self) -> Result<Arc<Mutex<crate::face::FaceAnalyzer>>, JobError> {
        let mut slot = lock(&self.analyzer);
        if let Some(a) = &*slot {
            return Ok(a.clone());
        }
        let device =
            crate::nets::device::select(&self.config.general.device).map_err(JobError::Device)?;
        let analyzer = crate::face::FaceAnalyzer::load_configured(device, &self.config.faces)
            .map_err(JobError::FaceModels)?;
        let analyzer = Arc::new(Mutex::new(analyzer));
        *slot = Some(analyzer.clone());
        Ok(analyzer)
    }

    /// The session's analysis of `photos`: from memory, else made from the stored photos.
    pub fn analysis(
        &self,
        store: &dyn SessionStore<Conversation>,
        key: &SessionKey,
        photos: &[PhotoRef],
    ) -> Result<Arc<SessionAnalysis>, JobError> {
        if let Some(made) = lock(&self.made).get(key) {
            if made.photos == photos {
                return Ok(made.analysis.clone());
            }
        }
        let analyzer = self.analyzer()?;
        let born = store.load(key)?.and_then(|c| c.born);
        let analysis = {
            let analyzer = lock(&analyzer);
            Arc::new(analyze_photos(
                store,
                photos,
                born,
                &analyzer,
                &self.config,
            )?)
        };
        lock(&self.made).insert(
            key.clone(),
            Made {
                photos: photos.to_vec(),
                analysis: analysis.clone(),
            },
        );
        Ok(analysis)
    }

    /// Drops the session's analysis (its photos changed or were forgotten).
    pub fn forget(&self, key: &SessionKey) {
        lock(&self.made).remove(key);
    }

    /// Keeps only the analyses of the sessions `live` names.
    pub fn retain(&self, live: &std::collections::HashSet<SessionKey>) {
        lock(&self.made).retain(|k, _| live.contains(k));
    }

    /// [`Action::Analyze`]'s work: the analysis (made afresh), its contact sheet in the store, and
    /// a notice for each photo that could not be used.
    pub fn analyze(
        &self,
        store: &dyn SessionStore<Conversation>,
        key: &SessionKey,
        photos: &[PhotoRef],
    ) -> Outcome {
        self.forget(key);
        let made = self.analysis(store, key, photos).and_then(|a| {
            let sheet = a.sheet_jpeg()?;
            let hash = store.put_file(key, &sheet)?;
            Ok((a, hash))
        });
        match made {
            Ok((analysis, sheet)) => Outcome {
                replies: rejected_notices(&analysis),
                event: Event::Analyzed {
                    faces: analysis.summaries(),
                    undated: analysis.undated(),
                    sheet,
                },
            },
            Err(e) => Outcome::failed(JobKind::Analysis, &e),
        }
    }

    /// [`Action::Render`]'s work: the session's reviewed album rendered with the user's choices,
    /// the video in the store. Cancelled when the session no longer waits for a render.
    pub fn render(
        &self,
        store: &dyn SessionStore<Conversation>,
        key: &SessionKey,
        choices: &RenderChoices,
        upload_limit: u64,
        cancel: &crate::leaves::cancel::CancelToken,
        progress: &(dyn Fn(u8) + Sync),
    ) -> Result<Outcome, JobError> {
        let photos = match store.load(key)?.map(|c| c.state) {
            Some(State::Rendering { photos, .. }) => photos,
            _ => return Err(JobError::Cancelled),
        };
        let analysis = self.analysis(store, key, &photos)?;
        let video = render_video(
            &analysis,
            choices,
            &self.config,
            &self.engines,
            upload_limit,
            cancel,
            progress,
        )?;
        let replies = if video.fell_back_to_morph {
            vec![Action::Reply {
                key: "chat-stylegan-missing".into(),
                args: BTreeMap::new(),
            }]
        } else {
            Vec::new()
        };
        let hash = store.put_file(key, &video.bytes)?;
        Ok(Outcome {
            replies,
            event: Event::Rendered {
                video: hash,
                mp4: video.mp4,
                shrunk: video.shrunk,
            },
        })
    }
}

/// Photos intake could not use, each named with its reason; a flood of duplicates gets a few
/// lines and a count, not a message per photo.
fn rejected_notices(analysis: &SessionAnalysis) -> Vec<Action> {
    let mut actions = Vec::new();
    for r in &analysis.album().rejected {
        let mut args = r.error.message_args();
        args.insert("photo".into(), r.source.clone());
        args.insert("reason-key".into(), r.error.message_key().into());
        actions.push(Action::Reply {
            key: "chat-photo-unusable".into(),
            args,
        });
    }
    for d in &analysis.album().duplicates {
        actions.push(Action::Reply {
            key: "chat-photo-duplicate".into(),
            args: [
                ("photo".to_string(), d.source.clone()),
                ("of".to_string(), d.of.clone()),
            ]
            .into(),
        });
    }
    const SHOWN: usize = 5;
    if actions.len() > SHOWN {
        let more = actions.len() - SHOWN;
        actions.truncate(SHOWN);
        actions.push(Action::Reply {
            key: "chat-photos-more".into(),
            args: [("count".to_string(), more.to_string())].into(),
        });
    }
    actions
}

/// `report` at most about once a second (platforms rate-limit message edits).
pub fn throttled(report: impl Fn(u8) + Sync) -> impl Fn(u8) + Sync {
    let last = Mutex::new(Instant::now() - Duration::from_secs(2));
    move |percent| {
        let mut last = lock(&last);
        if last.elapsed() >= Duration::from_secs(1) {
            *last = Instant::now();
            report(percent);
        }
    }
}
