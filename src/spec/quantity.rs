//! Kubernetes quantities (`500m`, `10Gi`, `1e3`): well-formedness, exact values, and the canonical form
//! the API server stores, so that what the hook renders is what it will observe.

/// The number of a Kubernetes quantity, when the quantity is well formed: a non-negative decimal number and
/// an optional suffix (binary `Ki`..`Ei`, decimal `n`, `u`, `m`, `k`, `M`..`E`, or an exponent such as `e3`).
pub fn quantity_number(value: &str) -> Option<f64> {
    let body = value.strip_prefix('+').unwrap_or(value);
    let split = body
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(body.len());
    let (number, suffix) = body.split_at(split);
    let suffix_ok = match suffix {
        "" | "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei" | "n" | "u" | "m" | "k" | "M" | "G" | "T"
        | "P" | "E" => true,
        _ => suffix.strip_prefix(['e', 'E']).is_some_and(|exponent| {
            let digits = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
            !digits.is_empty() && digits.len() <= 3 && digits.bytes().all(|b| b.is_ascii_digit())
        }),
    };
    if !suffix_ok || number.is_empty() || number == "." || number.matches('.').count() > 1 {
        return None;
    }
    number.parse::<f64>().ok().filter(|n| n.is_finite())
}

/// The exact value of a well-formed quantity as a reduced fraction `(numerator, denominator)`, so that two
/// spellings of one amount compare equal (`1024Mi` and `1Gi`, `0.5Gi` and `512Mi`): the API server stores
/// quantities in a canonical form of its own. `None` when malformed or too large to represent.
pub fn quantity_value(value: &str) -> Option<(u128, u128)> {
    quantity_number(value)?;
    let body = value.strip_prefix('+').unwrap_or(value);
    let split = body
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(body.len());
    let (number, suffix) = body.split_at(split);
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits: u128 = format!("{whole}{fraction}").parse().ok()?;
    // value = digits * 2^binary * 10^decimal
    let (binary, mut decimal): (u32, i32) = match suffix {
        "" => (0, 0),
        "Ki" => (10, 0),
        "Mi" => (20, 0),
        "Gi" => (30, 0),
        "Ti" => (40, 0),
        "Pi" => (50, 0),
        "Ei" => (60, 0),
        "n" => (0, -9),
        "u" => (0, -6),
        "m" => (0, -3),
        "k" => (0, 3),
        "M" => (0, 6),
        "G" => (0, 9),
        "T" => (0, 12),
        "P" => (0, 15),
        "E" => (0, 18),
        exponent => (0, exponent[1..].parse().ok()?),
    };
    decimal -= i32::try_from(fraction.len()).ok()?;
    let ten = |n: i32| 10u128.checked_pow(n.unsigned_abs());
    let mut numerator = digits.checked_mul(1u128.checked_shl(binary)?)?;
    let mut denominator = 1u128;
    if decimal >= 0 {
        numerator = numerator.checked_mul(ten(decimal)?)?;
    } else {
        denominator = ten(decimal)?;
    }
    let divisor = gcd(numerator, denominator);
    Some((numerator / divisor, denominator / divisor))
}

fn gcd(a: u128, b: u128) -> u128 {
    if b == 0 { a.max(1) } else { gcd(b, a % b) }
}

/// The form kube-apiserver stores `value` in (`Quantity.String()` of `k8s.io/apimachinery`): `0.5` is
/// `500m`, `1024Mi` is `1Gi`, `2000` is `2k`, `1.5Ki` is `1536`. A child rendered with any other spelling
/// differs from the stored object on every sync, and Metacontroller writes it again each time. `None`
/// when `value` is malformed or too large to represent.
///
/// The rules, each checked against kube-apiserver 1.37 (the unit test's table): a value that is already
/// canonical stays as written, even with a leading `+`; a binary suffix stays binary when the value is a
/// whole number of at least 1024, with the largest power of 1024 that divides it; anything else is decimal,
/// an integer mantissa with an exponent that is a multiple of three (`m`, `k`, `M`, ...; `e` when the
/// quantity was written with one), rounded up to whole milli-units.
pub fn canonical_quantity(value: &str) -> Option<String> {
    let unsigned = value.strip_prefix('+').unwrap_or(value);
    let canonical = canonical_unsigned(unsigned)?;
    Some(if canonical == unsigned {
        value.to_owned()
    } else {
        canonical
    })
}

fn canonical_unsigned(value: &str) -> Option<String> {
    let (numerator, denominator) = quantity_value(value)?;
    if numerator == 0 {
        return Some("0".into());
    }
    let suffix = value.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.');
    if suffix.ends_with('i') && denominator == 1 && numerator >= 1024 {
        let (mut amount, mut power) = (numerator, 0);
        while amount % 1024 == 0 && power < BINARY.len() - 1 {
            amount /= 1024;
            power += 1;
        }
        return Some(format!("{amount}{}", BINARY[power]));
    }
    // mantissa * 10^exponent, the mantissa an integer, at most three decimals.
    let (mut scaled, mut exponent) = (numerator, 0i32);
    while scaled % denominator != 0 && exponent > -3 {
        scaled = scaled.checked_mul(10)?;
        exponent -= 1;
    }
    let mut mantissa = scaled.div_ceil(denominator);
    while mantissa % 10 == 0 {
        mantissa /= 10;
        exponent += 1;
    }
    let down = exponent.rem_euclid(3);
    mantissa = mantissa.checked_mul(10u128.pow(down.unsigned_abs()))?;
    exponent -= down;
    let decimal = match exponent {
        _ if suffix.len() > 1 && suffix.starts_with(['e', 'E']) => None,
        -9 => Some("n"),
        -6 => Some("u"),
        -3 => Some("m"),
        0 => Some(""),
        3 => Some("k"),
        6 => Some("M"),
        9 => Some("G"),
        12 => Some("T"),
        15 => Some("P"),
        18 => Some("E"),
        _ => None,
    };
    Some(match (decimal, exponent) {
        (Some(suffix), _) => format!("{mantissa}{suffix}"),
        (None, 0) => mantissa.to_string(),
        (None, exponent) => format!("{mantissa}e{exponent}"),
    })
}

const BINARY: [&str; 7] = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_accept_kubernetes_forms_only() {
        for good in [
            "10Gi",
            "500m",
            "1",
            "0.5",
            "1e3",
            "2E",
            "+1Mi",
            "128974848",
            "5n",
            "1500u",
        ] {
            assert!(quantity_number(good).is_some(), "{good:?}");
        }
        for bad in [
            "", "Gi", "1 Gi", "1GB", "lots", "1.2.3", ".", "-1Gi", "1e", "1e1234",
        ] {
            assert!(quantity_number(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn quantities_compare_by_value_whatever_the_spelling() {
        assert_eq!(quantity_value("1Gi"), quantity_value("1024Mi"));
        assert_eq!(quantity_value("0.5Gi"), quantity_value("512Mi"));
        assert_eq!(quantity_value("1.1G"), quantity_value("1100M"));
        assert_eq!(quantity_value("1e3"), quantity_value("1k"));
        assert_eq!(quantity_value("500m"), Some((1, 2)));
        assert_ne!(quantity_value("1G"), quantity_value("1Gi"));
        assert_eq!(quantity_value("lots"), None);
    }

    #[test]
    fn canonical_forms_are_the_ones_the_api_server_stores() {
        // Each pair as kube-apiserver 1.37.2 stored it in a Pod and in a StatefulSet's claim templates
        // (`kubectl create --dry-run=server` of each written form).
        for (written, stored) in [
            ("0.5", "500m"),
            ("1024Mi", "1Gi"),
            ("0.5Gi", "512Mi"),
            ("1.5Ki", "1536"),
            ("0.1Ki", "102400m"),
            ("1536Mi", "1536Mi"),
            ("1.25Gi", "1280Mi"),
            ("2000", "2k"),
            ("1500", "1500"),
            ("1.5k", "1500"),
            ("1000m", "1"),
            ("1.5", "1500m"),
            ("1.2", "1200m"),
            ("4294967296", "4294967296"),
            ("1024", "1024"),
            ("1e3", "1e3"),
            ("1.5e3", "1500"),
            ("12e2", "1200"),
            ("0.5e3", "500"),
            ("1e-3", "1e-3"),
            ("100e-3", "100e-3"),
            ("100Gi", "100Gi"),
            ("+1Mi", "+1Mi"),
            ("+0.5", "500m"),
            ("0", "0"),
            ("0Gi", "0"),
            ("0.0000000001", "1m"),
            ("1.0000000001", "1001m"),
            ("5n", "1m"),
            ("1500u", "2m"),
            ("1.5m", "2m"),
            ("0.001Ki", "1024m"),
            ("10G", "10G"),
            ("2E", "2E"),
            ("1e21", "1e21"),
        ] {
            assert_eq!(
                canonical_quantity(written).as_deref(),
                Some(stored),
                "{written}"
            );
        }
        assert_eq!(canonical_quantity("lots"), None);
    }
}
