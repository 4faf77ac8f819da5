//! Every word the bots say, from the Fluent files in `locales/` (compiled in, so the binary
//! speaks without its source tree). The user's language comes from the platform; anything
//! without a locale of its own gets English.

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use std::collections::BTreeMap;

/// The locales shipped, English (the fallback) first.
const LOCALES: [(&str, &str); 2] = [
    ("en", include_str!("../../locales/en.ftl")),
    ("cs", include_str!("../../locales/cs.ftl")),
];

#[derive(Debug, thiserror::Error)]
pub enum I18nError {
    #[error("locale {locale}: {message}")]
    Broken { locale: String, message: String },
}

pub struct Messages {
    bundles: Vec<(&'static str, FluentBundle<FluentResource>)>,
}

impl Messages {
    /// Parses the shipped locales; an error means a broken .ftl file (a build defect).
    pub fn load() -> Result<Self, I18nError> {
        let mut bundles = Vec::new();
        for (code, text) in LOCALES {
            let broken = |message: String| I18nError::Broken {
                locale: code.into(),
                message,
            };
            let resource = FluentResource::try_new(text.to_string())
                .map_err(|(_, errors)| broken(format!("{errors:?}")))?;
            let langid: unic_langid::LanguageIdentifier =
                code.parse().map_err(|e| broken(format!("{e}")))?;
            let mut bundle = FluentBundle::new_concurrent(vec![langid]);
            // Chat clients show the Unicode isolation marks around arguments as boxes.
            bundle.set_use_isolating(false);
            bundle
                .add_resource(resource)
                .map_err(|errors| broken(format!("{errors:?}")))?;
            bundles.push((code, bundle));
        }
        Ok(Self { bundles })
    }

    /// The shipped locale for a platform language tag ("cs", "cs-CZ", "en-GB", None).
    pub fn locale_for(&self, language: Option<&str>) -> &'static str {
        let primary = language
            .and_then(|l| l.split(['-', '_']).next())
            .map(str::to_ascii_lowercase);
        self.bundles
            .iter()
            .find(|(code, _)| Some(*code) == primary.as_deref())
            .map_or("en", |(code, _)| code)
    }

    /// The message `key` in `locale` (English when that locale lacks it) with `args`. A key
    /// no locale has comes back as itself, so a missing message shows rather than vanishes.
    pub fn text(&self, locale: &str, key: &str, args: &BTreeMap<String, String>) -> String {
        // A message that embeds another one (a photo's problem) names it as `reason-key`.
        let mut args = args.clone();
        if let Some(inner) = args.remove("reason-key") {
            let reason = self.text(locale, &inner, &args);
            args.insert("reason".into(), reason);
        }
        let mut fluent_args = FluentArgs::new();
        for (k, v) in &args {
            // Numbers as numbers, so plural rules can select on them.
            match v.parse::<f64>() {
                Ok(n) if !v.contains(char::is_alphabetic) => {
                    fluent_args.set(k.as_str(), FluentValue::from(n))
                }
                _ => fluent_args.set(k.as_str(), FluentValue::from(v.as_str())),
            }
        }
        let order = self
            .bundles
            .iter()
            .filter(|(code, _)| *code == locale)
            .chain(self.bundles.iter().filter(|(code, _)| *code == "en"));
        for (_, bundle) in order {
            let Some(pattern) = bundle.get_message(key).and_then(|m| m.value()) else {
                continue;
            };
            let mut errors = Vec::new();
            let text = bundle.format_pattern(pattern, Some(&fluent_args), &mut errors);
            if !errors.is_empty() {
                tracing::warn!(key, locale, ?errors, "message formatted with errors");
            }
            return text.into_owned();
        }
        tracing::warn!(key, locale, "no such message");
        key.to_string()
    }

    /// The review's text on every platform: how many faces, which are left out, and every
    /// face's age (so an age fix shows at once).
    pub fn review(&self, locale: &str, faces: &[super::conversation::FaceSummary]) -> String {
        let mut text = self.text(
            locale,
            "chat-review",
            &[("count".to_string(), faces.len().to_string())].into(),
        );
        let left_out: Vec<String> = faces
            .iter()
            .filter(|f| f.removed)
            .map(|f| format!("#{}", f.number))
            .collect();
        if !left_out.is_empty() {
            text.push('\n');
            text += &self.text(
                locale,
                "chat-review-left-out",
                &[("numbers".to_string(), left_out.join(", "))].into(),
            );
        }
        text.push('\n');
        text += &self.text(
            locale,
            "chat-review-ages",
            &[("ages".to_string(), super::conversation::age_list(faces))].into(),
        );
        text
    }

    /// [`Messages::text`] without arguments.
    pub fn plain(&self, locale: &str, key: &str) -> String {
        self.text(locale, key, &BTreeMap::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_users_language_with_english_as_fallback() {
        let m = Messages::load().expect("locales");
        assert_eq!(m.locale_for(Some("cs-CZ")), "cs");
        assert_eq!(m.locale_for(Some("de")), "en");
        assert_eq!(m.locale_for(None), "en");
        let en = m.plain("en", "chat-cancelled");
        let cs = m.plain("cs", "chat-cancelled");
        assert!(!en.is_empty() && en != cs, "{en} / {cs}");
        let args = [("count".to_string(), "7".to_string())].into();
        assert!(m.text("cs", "chat-photos-collected", &args).contains('7'));
        assert_eq!(m.plain("en", "no-such-key"), "no-such-key");
    }
}
