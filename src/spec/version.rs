//! The versions of Prometheus and Thanos that an image reference names, and the ranges the rendered stack
//! supports.
//!
//! The rendered flags and configuration differ by version: Prometheus v2 expands `${POD_NAME}` in external
//! labels only behind `--enable-feature=expand-external-labels`, without which both replicas upload blocks
//! with identical labels (deduplication and compaction break silently). So the version is read from the
//! image's tag, older releases than the oldest supported are refused naming the field, and a tag that names no
//! version (a digest alone, `latest`, a mirror's own tag) is rendered as for the default image's major version,
//! with a warning saying so.

use std::fmt;

use super::check::short;
use crate::{Error, Result};

/// A release version, `major.minor.patch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl Version {
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        Self {
            major,
            minor,
            patch,
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// The oldest Prometheus the stack supports: v2.53, the last v2 long-term-support release (with
/// `--enable-feature=expand-external-labels`, rendered for every v2).
pub const OLDEST_PROMETHEUS: Version = Version::new(2, 53, 0);
/// The newest Prometheus major version the stack is tested with.
pub const NEWEST_PROMETHEUS_MAJOR: u32 = 3;
/// The oldest Thanos the stack supports: v0.37.2, the last patch of the first release line after Prometheus
/// v3, with every flag the stack renders (the sidecar's `--reloader.method=signal` arrived in v0.34). v0.37.0
/// and v0.37.1 are refused: before v0.37.1 the sidecar sent Prometheus v2 a negative `limit`, and v0.37.2
/// fixed the querier's endpoint set and a store gateway deadlock.
pub const OLDEST_THANOS: Version = Version::new(0, 37, 2);
/// The newest Thanos major version the stack is tested with.
pub const NEWEST_THANOS_MAJOR: u32 = 0;

/// The version an image reference's tag names: `registry/repo:v3.14.0`, `repo:3.14`, `repo:v3.14.0-distroless`
/// or `repo:v3.14.0@sha256:...`. `None` for a digest alone or a tag that does not start with a version.
pub fn image_version(image: &str) -> Option<Version> {
    let name = image.split('@').next().unwrap_or(image);
    let (repository, tag) = name.rsplit_once(':')?;
    // A colon before the last slash is a registry's port, not a tag.
    if tag.contains('/') || repository.is_empty() {
        return None;
    }
    let tag = tag.strip_prefix('v').unwrap_or(tag);
    let end = tag
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(tag.len());
    // What follows the numbers must be a suffix (`-rc.0`, `-distroless`, `+build`), not more of a word.
    if tag[end..]
        .chars()
        .next()
        .is_some_and(|c| c != '-' && c != '+')
    {
        return None;
    }
    let mut parts = tag[..end].split('.');
    let number = |part: Option<&str>| part.and_then(|p| p.parse::<u32>().ok());
    let major = number(parts.next())?;
    let minor = number(parts.next())?;
    let patch = match parts.next() {
        None => 0,
        part => number(part)?,
    };
    if parts.next().is_some() {
        return None;
    }
    Some(Version::new(major, minor, patch))
}

/// A program's supported range: the oldest release and the newest major version tested.
pub struct Supported {
    pub program: &'static str,
    pub field: &'static str,
    pub oldest: Version,
    pub newest_major: u32,
    /// The version rendered for when the tag names none: the default image's.
    pub default: Version,
}

impl Supported {
    /// The version to render for: the image's, refused when older than the oldest supported; the default's,
    /// with a warning, when the tag names none. A newer major version than tested is rendered with a warning.
    pub fn check(&self, image: &str, warnings: &mut Vec<String>) -> Result<Version> {
        let Self {
            program,
            field,
            oldest,
            newest_major,
            default,
        } = self;
        let Some(version) = image_version(image) else {
            warnings.push(format!(
                "{field}: the tag of {:?} names no version, so the stack is rendered for {program} {default} \
                 (the default image's); name the version in the tag (repository:vX.Y.Z, optionally \
                 @sha256:...) so that what it needs is rendered",
                short(image)
            ));
            return Ok(*default);
        };
        if version < *oldest {
            return Err(Error::invalid(
                *field,
                format!(
                    "{:?} is {program} {version}, older than the oldest supported, {oldest}: use {oldest} or \
                     newer, or remove the field for the default",
                    short(image)
                ),
            ));
        }
        if version.major > *newest_major {
            warnings.push(format!(
                "{field}: {program} {version} is newer than the versions this operator is tested with \
                 (up to v{newest_major}.x); it is rendered as for v{newest_major}"
            ));
        }
        Ok(version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tag_names_the_version() {
        for (image, version) in [
            ("quay.io/prometheus/prometheus:v3.14.0", Some((3, 14, 0))),
            ("prom/prometheus:v2.53.3", Some((2, 53, 3))),
            ("registry.local:5000/prometheus:2.53", Some((2, 53, 0))),
            ("quay.io/thanos/thanos:v0.42.4-rc.1", Some((0, 42, 4))),
            (
                "quay.io/thanos/thanos:v0.42.4@sha256:0123abcd",
                Some((0, 42, 4)),
            ),
            ("mirror/prometheus:v3.5.0-distroless", Some((3, 5, 0))),
            ("quay.io/prometheus/prometheus@sha256:0123abcd", None),
            ("registry.local:5000/prometheus", None),
            ("prometheus:latest", None),
            ("prometheus:main", None),
            ("prometheus:v3", None),
            ("prometheus:v3.14.0.1", None),
            ("prometheus:v3.14x", None),
            ("prometheus", None),
        ] {
            assert_eq!(
                image_version(image),
                version.map(|(a, b, c)| Version::new(a, b, c)),
                "{image}"
            );
        }
    }

    fn prometheus() -> Supported {
        Supported {
            program: "Prometheus",
            field: "spec.images.prometheus",
            oldest: OLDEST_PROMETHEUS,
            newest_major: NEWEST_PROMETHEUS_MAJOR,
            default: Version::new(3, 14, 0),
        }
    }

    #[test]
    fn older_than_supported_is_refused_naming_the_field_and_the_oldest() {
        let error = prometheus()
            .check("prom/prometheus:v2.45.0", &mut Vec::new())
            .unwrap_err()
            .to_string();
        assert!(error.contains("spec.images.prometheus"), "{error}");
        assert!(error.contains("v2.53.0"), "{error}");
    }

    #[test]
    fn supported_versions_pass_and_unknown_ones_warn() {
        let mut warnings = Vec::new();
        assert_eq!(
            prometheus()
                .check("prom/prometheus:v2.53.0", &mut warnings)
                .unwrap(),
            Version::new(2, 53, 0)
        );
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(
            prometheus()
                .check("prom/prometheus@sha256:00", &mut warnings)
                .unwrap(),
            Version::new(3, 14, 0)
        );
        assert_eq!(
            prometheus()
                .check("prom/prometheus:v4.0.0", &mut warnings)
                .unwrap(),
            Version::new(4, 0, 0)
        );
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].contains("names no version"), "{warnings:?}");
        assert!(warnings[1].contains("newer than"), "{warnings:?}");
    }
}
