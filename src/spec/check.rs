//! The rules each field of the spec must meet, checked again by the hook because a cluster may run an older
//! CRD than the hook: names, DNS names, ranges, images, label names, durations and quantities. Each error
//! names the field and says what to write instead.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::Volume;
use super::quantity::{canonical_quantity, quantity_number};
use crate::api::{self, MAX_NAME_LEN};
use crate::{Error, Result};

pub(super) const HOUR_MS: u64 = 3_600_000;

/// Values quoted in errors are cut short: an error ends up in an Event, which should stay readable.
pub(super) fn short(value: &str) -> String {
    const MAX: usize = 64;
    match value.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}...", &value[..end]),
        None => value.to_string(),
    }
}

pub(super) fn check_name(name: &str) -> Result<()> {
    let field = "metadata.name";
    if name.is_empty() {
        return Err(Error::invalid(field, "is required"));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(Error::invalid(
            field,
            format!(
                "{:?} is {} characters; at most {MAX_NAME_LEN} fit in every child name \
                 (<name>-thanos-compact is a StatefulSet)",
                short(name),
                name.len()
            ),
        ));
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) || !is_dns1123_label(name) {
        return Err(Error::invalid(
            field,
            format!(
                "{:?} must start with a lowercase letter and hold only lowercase letters, digits and '-' \
                 (children include Services, whose names are DNS-1035 labels)",
                short(name)
            ),
        ));
    }
    Ok(())
}

/// A DNS-1123 label: lowercase alphanumerics and '-', starting and ending alphanumeric, at most 63.
pub fn is_dns1123_label(value: &str) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes[0] != b'-'
        && bytes[bytes.len() - 1] != b'-'
}

pub(super) fn check_dns_subdomain(field: &str, value: &str) -> Result<()> {
    if value.is_empty() || value.len() > 253 || !value.split('.').all(is_dns1123_label) {
        return Err(Error::invalid(
            field,
            format!(
                "{:?} is not a DNS name: use lowercase letters, digits, '-' and '.', at most 253 characters",
                short(value)
            ),
        ));
    }
    Ok(())
}

pub(super) fn check_object_name(field: &str, value: &str) -> Result<()> {
    check_dns_subdomain(field, value).map_err(|_| {
        Error::invalid(
            field,
            format!(
                "{:?} is not an object name: use lowercase letters, digits, '-' and '.', at most 253 characters",
                short(value)
            ),
        )
    })
}

pub(super) fn check_range(field: &str, value: i32, min: i32, max: i32) -> Result<()> {
    if !(min..=max).contains(&value) {
        return Err(Error::invalid(
            field,
            format!("{value} is out of range: use {min} to {max}"),
        ));
    }
    Ok(())
}

/// An image of `spec.images`: the one `field` gives, else `default`, as an image reference.
pub(super) fn image_or(field: &str, given: Option<String>, default: &str) -> Result<String> {
    let value = given.unwrap_or_else(|| default.into());
    if value.is_empty()
        || value.len() > 512
        || value.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(Error::invalid(
            field,
            format!("{:?} is not an image reference", short(&value)),
        ));
    }
    Ok(value)
}

/// Whether `value` is a Prometheus label name that a user may set: letters, digits and `_`, not starting
/// with a digit or `__` (reserved for internal labels).
pub fn is_label_name(value: &str) -> bool {
    let mut chars = value.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !value.starts_with("__")
}

pub(super) fn check_label_name(field: &str, value: &str) -> Result<()> {
    if !is_label_name(value) {
        return Err(Error::invalid(
            field,
            format!(
                "{:?} is not a Prometheus label name: use letters, digits and '_', not starting with a digit \
                 or '__'",
                short(value)
            ),
        ));
    }
    Ok(())
}

/// Parse a Prometheus duration (`1y2w3d4h5m6s7ms`, units in that order, each at most once) into
/// milliseconds. This is the rule of [`api::DURATION_PATTERN`], plus "not empty".
pub fn parse_duration(value: &str) -> Option<u64> {
    const UNITS: [(&str, u64); 7] = [
        ("y", 365 * 24 * HOUR_MS),
        ("w", 7 * 24 * HOUR_MS),
        ("d", 24 * HOUR_MS),
        ("h", HOUR_MS),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ];
    if value.is_empty() {
        return None;
    }
    let mut rest = value;
    let mut total: u64 = 0;
    let mut next_unit = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let number: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        // "ms" must be tried before "m".
        let (index, (unit, factor)) = UNITS
            .iter()
            .enumerate()
            .skip(next_unit)
            .filter(|(_, (unit, _))| rest.starts_with(unit))
            .max_by_key(|(_, (unit, _))| unit.len())?;
        rest = &rest[unit.len()..];
        total = total.checked_add(number.checked_mul(*factor)?)?;
        next_unit = index + 1;
    }
    Some(total)
}

pub(super) fn check_duration(field: &str, value: &str) -> Result<u64> {
    parse_duration(value).ok_or_else(|| {
        Error::invalid(
            field,
            format!(
                "{:?} is not a duration: use a number and a unit among y, w, d, h, m, s, ms, such as 24h or 1d12h",
                short(value)
            ),
        )
    })
}

fn check_quantity(field: &str, quantity: &Quantity) -> Result<f64> {
    quantity_number(&quantity.0).filter(|_| quantity.0.len() <= 64).ok_or_else(|| {
        Error::invalid(
            field,
            format!(
                "{:?} is not a quantity: use a number with an optional unit, such as 50Gi or 500m",
                short(&quantity.0)
            ),
        )
    })
}

pub(super) fn volume(
    field: &str,
    spec: Option<api::VolumeSpec>,
    default_size: &str,
) -> Result<Volume> {
    let spec = spec.unwrap_or_default();
    let size_defaulted = spec.size.is_none();
    let size = spec.size.unwrap_or_else(|| Quantity(default_size.into()));
    if check_quantity(&format!("{field}.size"), &size)? == 0.0 {
        return Err(Error::invalid(
            format!("{field}.size"),
            "must be larger than 0",
        ));
    }
    let size = canonical(&format!("{field}.size"), &size)?;
    if let Some(class) = &spec.storage_class_name {
        check_object_name(&format!("{field}.storageClassName"), class)?;
    }
    Ok(Volume {
        size,
        size_defaulted,
        storage_class_name: spec.storage_class_name,
    })
}

pub(super) fn resources_or(
    field: &str,
    spec: Option<ResourceRequirements>,
    cpu: &str,
    memory: &str,
) -> Result<ResourceRequirements> {
    let Some(mut resources) = spec else {
        return Ok(ResourceRequirements {
            requests: Some(BTreeMap::from([
                ("cpu".to_string(), Quantity(cpu.into())),
                ("memory".to_string(), Quantity(memory.into())),
            ])),
            ..Default::default()
        });
    };
    for (part, map) in [
        ("limits", &mut resources.limits),
        ("requests", &mut resources.requests),
    ] {
        for (resource, quantity) in map.iter_mut().flatten() {
            *quantity = canonical(&format!("{field}.{part}.{resource}"), quantity)?;
        }
    }
    Ok(resources)
}

/// `quantity` checked, in the form the API server will store it (see [`canonical_quantity`]).
fn canonical(field: &str, quantity: &Quantity) -> Result<Quantity> {
    check_quantity(field, quantity)?;
    Ok(Quantity(
        canonical_quantity(&quantity.0).unwrap_or_else(|| quantity.0.clone()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_follow_the_prometheus_grammar() {
        assert_eq!(parse_duration("24h"), Some(24 * HOUR_MS));
        assert_eq!(parse_duration("1d12h"), Some(36 * HOUR_MS));
        assert_eq!(parse_duration("1y"), Some(365 * 24 * HOUR_MS));
        assert_eq!(parse_duration("90s"), Some(90_000));
        assert_eq!(parse_duration("1m30s500ms"), Some(90_500));
        assert_eq!(parse_duration("0s"), Some(0));
        for bad in [
            "",
            "24",
            "h",
            "24x",
            "1h1d",
            "1h1h",
            "24h ",
            " 24h",
            "-1h",
            "1.5h",
            "24h --x",
            "99999999999999999999y",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }
}
