//! JSON written the way Python's `json.dumps` writes it by default (`ensure_ascii=True`,
//! separators `", "` and `": "`, floats as `repr`), so a Safe-SAIL database we export is
//! byte-for-byte what their tools write.

use serde_json::Value;
use std::fmt::Write;

/// Serializes like `json.dumps(value)`.
pub fn dumps(v: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, v);
    out
}

fn write_value(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            if n.is_f64() {
                out.push_str(&float_repr(n.as_f64().unwrap_or(f64::NAN)));
            } else {
                out.push_str(&n.to_string());
            }
        }
        Value::String(s) => write_str(out, s),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_value(out, x);
            }
            out.push(']');
        }
        Value::Object(m) => {
            out.push('{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_str(out, k);
                out.push_str(": ");
                write_value(out, x);
            }
            out.push('}');
        }
    }
}

/// A JSON string with every non-ASCII character as `\uXXXX` (astral ones as surrogate pairs).
fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7f => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Python's `repr(float)`: the shortest round-trip digits, scientific notation below 1e-4
/// and from 1e16, always with a `.0` or an exponent.
pub fn float_repr(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    if x == 0.0 {
        return if x.is_sign_negative() {
            "-0.0".into()
        } else {
            "0.0".into()
        };
    }
    // The shortest digits that round-trip and their decimal exponent, exactly (a logarithm
    // misplaces numbers next to a power of ten, such as 9.999999999999999e-05).
    let sci = format!("{x:e}");
    let (mant, exp) = sci.split_once('e').expect("`{:e}` writes an exponent");
    let exp: i32 = exp.parse().expect("`{:e}` writes an integer exponent");
    if (-4..16).contains(&exp) {
        let s = format!("{x}");
        if s.contains('.') {
            s
        } else {
            format!("{s}.0")
        }
    } else {
        // Rust: "1.5e-5" → Python: "1.5e-05"; "1e16" → "1e+16".
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mant}e{sign}{:02}", exp.abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_like_python() {
        assert_eq!(float_repr(0.3176083388420132), "0.3176083388420132");
        assert_eq!(float_repr(1.0), "1.0");
        assert_eq!(float_repr(1e-5), "1e-05");
        assert_eq!(float_repr(1.5e-7), "1.5e-07");
        assert_eq!(float_repr(0.0001), "0.0001");
        assert_eq!(float_repr(1e16), "1e+16");
        assert_eq!(float_repr(123456789012345.0), "123456789012345.0");
        // Next to powers of ten, where the exponent decides the notation (Python's reprs).
        assert_eq!(float_repr(9.999999999999999e-05), "9.999999999999999e-05");
        assert_eq!(float_repr(0.00010000000000000002), "0.00010000000000000002");
        assert_eq!(float_repr(9999999999999998.0), "9999999999999998.0");
        assert_eq!(float_repr(1234567890123456.8), "1234567890123456.8");
        assert_eq!(float_repr(5e-324), "5e-324");
        assert_eq!(
            float_repr(-1.7976931348623157e308),
            "-1.7976931348623157e+308"
        );
        assert_eq!(float_repr(0.36607142857142844), "0.36607142857142844");
    }

    #[test]
    fn strings_like_python() {
        let v: Value =
            serde_json::from_str(r#"{"a": "中\u0001🧹\"\n", "b": [1, 2.5, null, true]}"#).unwrap();
        assert_eq!(
            dumps(&v),
            r#"{"a": "\u4e2d\u0001\ud83e\uddf9\"\n", "b": [1, 2.5, null, true]}"#
        );
    }
}
