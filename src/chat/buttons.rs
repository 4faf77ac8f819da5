//! What a chat button does, as one typed value with one encoding: the conversation builds
//! buttons from a [`ButtonData`] and reads presses back through [`ButtonData::decode`], which
//! checks everything (button data comes back from the platform and is never trusted).

use crate::config::{Background, GeneratorChoice, RendererKind};
use crate::render::VideoFormat;

/// The sizes the chat offers.
pub const SIZES: [u32; 3] = [256, 512, 1024];
/// The frames between photos the chat offers (any of 1–60 is accepted).
pub const FRAMES: [u32; 3] = [6, 12, 24];
/// The blend strengths the chat offers (any of 0–1 is accepted).
pub const GAMMAS: [f32; 3] = [0.0, 0.5, 1.0];
/// Frames between photos a button may ask for.
const FRAMES_RANGE: std::ops::RangeInclusive<u32> = 1..=60;

/// A press of one of the conversation's buttons.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ButtonData {
    /// Analyse the photos collected so far.
    Analyze,
    /// Use face number N after all.
    Keep(usize),
    /// Leave face number N out.
    Remove(usize),
    /// Explain how to fix an age.
    FixAge,
    /// Show the settings.
    ShowSettings,
    /// Change one setting.
    Set(Setting),
    /// Render the reviewed album.
    Render,
}

/// One render setting's new value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Setting {
    Renderer(RendererKind),
    /// The stylegan renderer with the encoder of one generator family (shown as a renderer).
    Generator(GeneratorChoice),
    Background(Background),
    Size(u32),
    FramesBetween(u32),
    Gamma(f32),
    Format(VideoFormat),
}

impl Setting {
    /// The setting's name and value as the button shows and sends them.
    pub fn name_and_value(&self) -> (&'static str, String) {
        match self {
            Self::Renderer(kind) => ("renderer", kind.name().to_string()),
            Self::Generator(g) => ("renderer", g.name().to_string()),
            Self::Background(b) => ("background", b.name().to_string()),
            Self::Size(size) => ("size", size.to_string()),
            Self::FramesBetween(n) => ("frames", n.to_string()),
            Self::Gamma(g) => ("gamma", g.to_string()),
            Self::Format(f) => ("format", f.extension().to_string()),
        }
    }

    fn decode(name: &str, value: &str) -> Option<Self> {
        match name {
            "renderer" => value.parse().ok().map(Self::Renderer).or_else(|| {
                value
                    .parse()
                    .ok()
                    .filter(|g| *g != GeneratorChoice::Auto)
                    .map(Self::Generator)
            }),
            "background" => value.parse().ok().map(Self::Background),
            "size" => value
                .parse()
                .ok()
                .filter(|s| SIZES.contains(s))
                .map(Self::Size),
            "frames" => value
                .parse()
                .ok()
                .filter(|n| FRAMES_RANGE.contains(n))
                .map(Self::FramesBetween),
            "gamma" => value
                .parse::<f32>()
                .ok()
                .filter(|g| (0.0..=1.0).contains(g))
                .map(Self::Gamma),
            "format" => match value {
                "gif" => Some(Self::Format(VideoFormat::Gif)),
                "mp4" => Some(Self::Format(VideoFormat::Mp4)),
                _ => None,
            },
            _ => None,
        }
    }
}

impl ButtonData {
    /// The text the platform carries for this button.
    pub fn encode(&self) -> String {
        match self {
            Self::Analyze => "analyze".into(),
            Self::Keep(n) => format!("keep:{n}"),
            Self::Remove(n) => format!("remove:{n}"),
            Self::FixAge => "fix-age".into(),
            Self::ShowSettings => "set:show".into(),
            Self::Set(setting) => {
                let (name, value) = setting.name_and_value();
                format!("set:{name}={value}")
            }
            Self::Render => "render".into(),
        }
    }

    /// The press a button's text stands for; `None` for anything this conversation never
    /// sent (an old or forged button).
    pub fn decode(data: &str) -> Option<Self> {
        let (verb, arg) = data.split_once(':').unwrap_or((data, ""));
        match (verb, arg) {
            ("analyze", "") => Some(Self::Analyze),
            ("keep", n) => n.parse().ok().map(Self::Keep),
            ("remove", n) => n.parse().ok().map(Self::Remove),
            ("fix-age", "") => Some(Self::FixAge),
            ("set", "show") => Some(Self::ShowSettings),
            ("set", setting) => {
                let (name, value) = setting.split_once('=')?;
                Setting::decode(name, value).map(Self::Set)
            }
            ("render", "") => Some(Self::Render),
            _ => None,
        }
    }
}

/// A button's text as the platforms carry it: the session owner's id, then the press, so that
/// a button in a group chat finds its session (the conversation still checks the presser).
pub fn with_owner(owner: super::conversation::UserId, data: &str) -> String {
    format!("{owner}|{data}")
}

/// The owner and the press of a platform's button text; `None` when it is not of that form.
pub fn owner_and_data(text: &str) -> Option<(super::conversation::UserId, &str)> {
    let (owner, data) = text.split_once('|')?;
    Some((owner.parse().ok()?, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_owner_travels_with_the_press() {
        let text = with_owner(-42, &ButtonData::Keep(3).encode());
        assert_eq!(owner_and_data(&text), Some((-42, "keep:3")));
        assert_eq!(owner_and_data("keep:3"), None);
        assert_eq!(owner_and_data("me|keep:3"), None);
    }

    #[test]
    fn every_button_reads_back_as_itself() {
        let mut all = vec![
            ButtonData::Analyze,
            ButtonData::Keep(3),
            ButtonData::Remove(27),
            ButtonData::FixAge,
            ButtonData::ShowSettings,
            ButtonData::Render,
            ButtonData::Set(Setting::Format(VideoFormat::Gif)),
            ButtonData::Set(Setting::Format(VideoFormat::Mp4)),
        ];
        all.extend(RendererKind::ALL.map(|k| ButtonData::Set(Setting::Renderer(k))));
        all.extend(
            [GeneratorChoice::Stylegan2, GeneratorChoice::Stylegan3]
                .map(|g| ButtonData::Set(Setting::Generator(g))),
        );
        all.extend(Background::ALL.map(|b| ButtonData::Set(Setting::Background(b))));
        all.extend(SIZES.map(|s| ButtonData::Set(Setting::Size(s))));
        all.extend(FRAMES.map(|n| ButtonData::Set(Setting::FramesBetween(n))));
        all.extend(GAMMAS.map(|g| ButtonData::Set(Setting::Gamma(g))));
        for b in all {
            assert_eq!(ButtonData::decode(&b.encode()), Some(b), "{}", b.encode());
        }
    }

    #[test]
    fn anything_else_is_refused() {
        for data in [
            "",
            "analyze:1",
            "keep:",
            "keep:-1",
            "remove:x",
            "set:",
            "set:size=99999",
            "set:size=",
            "set:frames=0",
            "set:frames=61",
            "set:gamma=1.5",
            "set:gamma=NaN",
            "set:format=avi",
            "set:renderer=rm -rf",
            "set:background=sepia",
            "set:colour=red",
            "render:now",
            "fix-age:2",
        ] {
            assert_eq!(ButtonData::decode(data), None, "{data:?}");
        }
    }
}
