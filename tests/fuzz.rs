//! Mutation fuzzing of every file the loaders read: the fixture SAEs of all five formats and
//! the fixture models (config.json, safetensors), each damaged in a deterministic way (bit
//! flips, truncations, inserted bytes, header and JSON fields set to nonsense, NaN values,
//! wrong dtypes, pickles with tuples of the wrong length) and loaded in-process through the
//! library. A case may load or fail, but must never panic, every error must name the file,
//! and what loads must be finite: an SAE's weights, and the activations of a capture.
//!
//! `SAFE_SAIL_FUZZ_CASES=N` runs N cases (default 2500), `SAFE_SAIL_FUZZ_SEED=S` another
//! seed, `SAFE_SAIL_FUZZ_ONLY=I` only case I (to reproduce one), and
//! `SAFE_SAIL_FUZZ_KEEP=DIR` copies the files of every failing case into DIR.

mod common;

use candle_core::{DType, Device, Tensor};
use common::fixtures;
use safe_sail::capture::capture_prompt;
use safe_sail::hooks::HookPoint;
use safe_sail::model::{Model, PromptSpec};
use safe_sail::sae::{load_sae, Sae, SaeSpec};
use serde_json::Value;
use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

const DEFAULT_CASES: usize = 2500;
const DEFAULT_SEED: u64 = 0x5AFE_F022;

// ---------------------------------------------------------------------------------------------
// A small deterministic random generator (splitmix64), so every case is reproducible anywhere.

struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed)
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// A number in `0..n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    /// A position in `0..len`, more often near the start (where the headers are).
    fn position(&mut self, len: usize) -> usize {
        if len == 0 {
            return 0;
        }
        if self.chance(60) {
            self.below(len.min(1024))
        } else {
            self.below(len)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// What is fuzzed.

#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    Json,
    Safetensors,
    Pt,
    Npz,
    Other,
}

fn kind_of(name: &str) -> Kind {
    if name.ends_with(".json") {
        Kind::Json
    } else if name.ends_with(".safetensors") {
        Kind::Safetensors
    } else if name.ends_with(".pt") {
        Kind::Pt
    } else if name.ends_with(".npz") {
        Kind::Npz
    } else {
        Kind::Other
    }
}

/// A fixture to damage: a folder (or one file) whose listed files may be mutated.
struct Target {
    name: String,
    /// The fixture folder, or the file itself for single-file SAEs.
    source: PathBuf,
    /// The files that may be mutated (names inside `source`; the file name for a single file).
    mutable: Vec<String>,
    /// `Some(options)` for an SAE (`,key=value` appended to its path), `None` for a model.
    sae_options: Option<String>,
}

fn targets() -> Vec<Target> {
    let fx = fixtures();
    let manifest = common::read_json(&fx.join("saes/manifest.json"));
    let mut out: Vec<Target> = vec![];
    for e in manifest.as_array().unwrap() {
        let path = e["path"].as_str().unwrap();
        let name = e["name"].as_str().unwrap();
        // Both components of a Safe-SAIL file are the same file: fuzz it once.
        if out.iter().any(|t| t.source == fx.join(path)) {
            continue;
        }
        let mut options: String = e["options"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| format!(",{k}={}", v.as_str().unwrap()))
            .collect();
        if e["format"] == "sparsify" || e["format"] == "gemmascope" {
            // The hook is in the folder name, which the fuzzer does not keep.
            if !options.contains("hook=") {
                options.push_str(&format!(",hook={}", e["hook"].as_str().unwrap()));
            }
        }
        let source = fx.join(path);
        let mutable = if source.is_dir() {
            let mut files: Vec<String> = std::fs::read_dir(&source)
                .unwrap()
                .map(|f| f.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            files.sort();
            files
        } else {
            vec![source.file_name().unwrap().to_string_lossy().into_owned()]
        };
        out.push(Target {
            name: name.into(),
            source,
            mutable,
            sae_options: Some(options),
        });
    }
    let mut models: Vec<PathBuf> = std::fs::read_dir(fx.join("models"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    models.sort();
    for m in models {
        let mut mutable: Vec<String> = std::fs::read_dir(&m)
            .unwrap()
            .map(|f| f.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| {
                (n.ends_with(".json")
                    && !n.starts_with("tokenizer")
                    && !n.starts_with("generation"))
                    || n.ends_with(".safetensors")
            })
            .collect();
        mutable.sort();
        out.push(Target {
            name: format!("model {}", m.file_name().unwrap().to_string_lossy()),
            source: m,
            mutable,
            sae_options: None,
        });
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Mutations. Each returns the new bytes and says what it did; `None` when it does not apply.

/// What a mutation promises about the outcome, beyond "no panic".
#[derive(Clone, Copy, PartialEq, Debug)]
enum Expect {
    /// Ok or Err.
    Anything,
    /// An SAE tensor that the loader uses now holds an integer dtype: an error naming it.
    DtypeError,
}

struct Mutation {
    bytes: Vec<u8>,
    what: String,
    expect: Expect,
}

fn plain(bytes: Vec<u8>, what: String) -> Option<Mutation> {
    Some(Mutation {
        bytes,
        what,
        expect: Expect::Anything,
    })
}

fn mutate_bytes(rng: &mut Rng, data: &[u8]) -> Option<Mutation> {
    let mut b = data.to_vec();
    let len = b.len();
    match rng.below(6) {
        0 => {
            let n = 1 + rng.below(16);
            let mut at = vec![];
            for _ in 0..n {
                let p = rng.position(len);
                let bit = rng.below(8);
                if let Some(x) = b.get_mut(p) {
                    *x ^= 1 << bit;
                    at.push(p);
                }
            }
            plain(b, format!("{n} bit flips at {at:?}"))
        }
        1 => {
            let keep = if rng.chance(50) {
                rng.below(len.min(2048) + 1)
            } else {
                rng.below(len + 1)
            };
            b.truncate(keep);
            plain(b, format!("truncated to {keep} of {len} bytes"))
        }
        2 => {
            let p = rng.position(len + 1).min(len);
            let n = 1 + rng.below(16);
            let ins: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
            b.splice(p..p, ins);
            plain(b, format!("{n} random bytes inserted at {p}"))
        }
        3 => {
            let p = rng.position(len).min(len);
            let n = (1 + rng.below(64)).min(len - p);
            b.drain(p..p + n);
            plain(b, format!("{n} bytes deleted at {p}"))
        }
        4 => {
            let p = rng.position(len).min(len);
            let n = (1 + rng.below(32)).min(len - p);
            let v = *rng.pick(&[0x00u8, 0xFF, 0x7F, 0x80]);
            b[p..p + n].iter_mut().for_each(|x| *x = v);
            plain(b, format!("{n} bytes at {p} set to {v:#04x}"))
        }
        _ => {
            if len == 0 {
                return None;
            }
            let p = rng.below(len);
            let n = (1 + rng.below(256)).min(len - p);
            let chunk = b[p..p + n].to_vec();
            let q = rng.below(len + 1);
            b.splice(q..q, chunk);
            plain(b, format!("{n} bytes from {p} duplicated at {q}"))
        }
    }
}

/// Nonsense values for a JSON field.
fn odd_value(rng: &mut Rng, old: &Value) -> Value {
    let choices: Vec<Value> = vec![
        Value::from(0),
        Value::from(-1),
        Value::from(1),
        Value::from(2),
        Value::from(i64::MAX),
        Value::from(u64::MAX),
        Value::from(1u64 << 31),
        Value::from(1u64 << 32),
        Value::from(1u64 << 40),
        Value::from(-1e300),
        Value::from(1e300),
        Value::from(0.5),
        Value::from(-0.0),
        Value::Null,
        Value::Bool(true),
        Value::from("x"),
        Value::from(""),
        Value::from(vec![1, 2]),
        serde_json::json!({}),
    ];
    let v = rng.pick(&choices).clone();
    if rng.chance(25) {
        if let Some(n) = old.as_u64() {
            // Close to the right value: off by one, doubled, halved.
            return Value::from(*rng.pick(&[n.wrapping_add(1), n.saturating_sub(1), n * 2, n / 2]));
        }
        if let Some(s) = old.as_str() {
            return Value::from(format!("{s}x"));
        }
    }
    v
}

fn mutate_json(rng: &mut Rng, data: &[u8]) -> Option<Mutation> {
    let Ok(mut v) = serde_json::from_slice::<Value>(data) else {
        return None;
    };
    // Collect the paths of every field (one level into nested objects).
    let mut paths: Vec<Vec<String>> = vec![];
    if let Some(obj) = v.as_object() {
        for (k, val) in obj {
            paths.push(vec![k.clone()]);
            if let Some(inner) = val.as_object() {
                for k2 in inner.keys() {
                    paths.push(vec![k.clone(), k2.clone()]);
                }
            }
        }
    }
    // Fields that matter most, also when absent.
    for key in [
        "k",
        "d_in",
        "d_sae",
        "num_hidden_layers",
        "head_dim",
        "hidden_size",
    ] {
        if !paths.iter().any(|p| p.len() == 1 && p[0] == key) {
            paths.push(vec![key.to_string()]);
        }
    }
    let path = rng.pick(&paths).clone();
    let parent = if path.len() == 2 {
        v.get_mut(&path[0]).and_then(Value::as_object_mut)?
    } else {
        v.as_object_mut()?
    };
    let key = path.last().unwrap().clone();
    let what;
    if rng.chance(15) && parent.contains_key(&key) {
        parent.remove(&key);
        what = format!("field {} removed", path.join("."));
    } else if key == "k" && rng.chance(50) {
        let k = *rng.pick(&[0i64, -1, 1 << 20]);
        parent.insert(key, Value::from(k));
        what = format!("field {} = {k}", path.join("."));
    } else {
        let old = parent.get(&key).cloned().unwrap_or(Value::Null);
        let new = odd_value(rng, &old);
        what = format!("field {} = {new}", path.join("."));
        parent.insert(key, new);
    }
    plain(serde_json::to_vec_pretty(&v).unwrap(), what)
}

/// A safetensors file split into its header and data.
struct St {
    header: serde_json::Map<String, Value>,
    data: Vec<u8>,
}

fn parse_st(b: &[u8]) -> Option<St> {
    let n = u64::from_le_bytes(b.get(..8)?.try_into().ok()?) as usize;
    let header: Value = serde_json::from_slice(b.get(8..8 + n)?).ok()?;
    Some(St {
        header: header.as_object()?.clone(),
        data: b[8 + n..].to_vec(),
    })
}

fn write_st(st: &St) -> Vec<u8> {
    let h = serde_json::to_vec(&Value::Object(st.header.clone())).unwrap();
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&h);
    out.extend_from_slice(&st.data);
    out
}

/// Writes a non-finite value of `dtype` at element `i` of `bytes`.
fn poke_nonfinite(rng: &mut Rng, dtype: &str, bytes: &mut [u8], i: usize) -> Option<&'static str> {
    let which = rng.below(3);
    let name = ["NaN", "+Inf", "-Inf"][which];
    match dtype {
        "F32" | "<f4" => {
            let v = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY][which];
            bytes
                .get_mut(i * 4..i * 4 + 4)?
                .copy_from_slice(&v.to_le_bytes());
        }
        "F64" | "<f8" => {
            let v = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY][which];
            bytes
                .get_mut(i * 8..i * 8 + 8)?
                .copy_from_slice(&v.to_le_bytes());
        }
        "F16" | "<f2" => {
            let v = [0x7E00u16, 0x7C00, 0xFC00][which];
            bytes
                .get_mut(i * 2..i * 2 + 2)?
                .copy_from_slice(&v.to_le_bytes());
        }
        "BF16" => {
            let v = [0x7FC0u16, 0x7F80, 0xFF80][which];
            bytes
                .get_mut(i * 2..i * 2 + 2)?
                .copy_from_slice(&v.to_le_bytes());
        }
        _ => return None,
    }
    Some(name)
}

fn mutate_safetensors(rng: &mut Rng, data: &[u8], is_sae: bool) -> Option<Mutation> {
    let mut st = parse_st(data)?;
    let names: Vec<String> = st
        .header
        .keys()
        .filter(|k| *k != "__metadata__")
        .cloned()
        .collect();
    let name = rng.pick(&names).clone();
    let entry = st.header.get_mut(&name)?.as_object_mut()?;
    let dtype = entry["dtype"].as_str()?.to_string();
    let shape: Vec<u64> = entry["shape"]
        .as_array()?
        .iter()
        .filter_map(Value::as_u64)
        .collect();
    let offsets: Vec<u64> = entry["data_offsets"]
        .as_array()?
        .iter()
        .filter_map(Value::as_u64)
        .collect();
    let mut expect = Expect::Anything;
    let what = match rng.below(7) {
        0 => {
            // Another dtype; an integer one of the same width keeps the file consistent.
            let same_width: &[&str] = match dtype.as_str() {
                "F32" => &["I32", "U32"],
                "F16" | "BF16" => &["I16", "F16", "BF16"],
                "F64" => &["I64"],
                _ => &["U8"],
            };
            let new = if rng.chance(70) {
                rng.pick(same_width).to_string()
            } else {
                rng.pick(&["U8", "I8", "I64", "BOOL", "F8_E4M3", "F4", "F64", "X"])
                    .to_string()
            };
            if is_sae && new.starts_with(['I', 'U']) && same_width.contains(&new.as_str()) {
                expect = Expect::DtypeError;
            }
            entry.insert("dtype".into(), Value::from(new.clone()));
            format!("tensor {name}: dtype {dtype} -> {new}")
        }
        1 => {
            let new: Vec<Value> = match rng.below(6) {
                0 => shape.iter().rev().map(|&d| Value::from(d)).collect(),
                1 => vec![Value::from(1u64 << 31), Value::from(1u64 << 31)],
                2 => vec![Value::from(0)],
                3 => {
                    let mut s: Vec<Value> = shape.iter().map(|&d| Value::from(d)).collect();
                    s.push(Value::from(1));
                    s
                }
                4 => vec![Value::from(u64::MAX)],
                _ => vec![],
            };
            let text = format!("{new:?}");
            entry.insert("shape".into(), Value::from(new));
            format!("tensor {name}: shape {shape:?} -> {text}")
        }
        2 => {
            let (a, b) = (offsets.first().copied()?, offsets.get(1).copied()?);
            let new = match rng.below(5) {
                0 => vec![b, a],
                1 => vec![a + 4, b + 4],
                2 => vec![a, b + (1 << 40)],
                3 => vec![a, u64::MAX],
                _ => vec![a.saturating_sub(4), b.saturating_sub(4)],
            };
            entry.insert("data_offsets".into(), Value::from(new.clone()));
            format!("tensor {name}: data_offsets {offsets:?} -> {new:?}")
        }
        3 => {
            st.header.remove(&name);
            format!("tensor {name} removed from the header")
        }
        4 => {
            let e = st.header.remove(&name)?;
            st.header.insert(format!("{name}_renamed"), e);
            format!("tensor {name} renamed")
        }
        5 => {
            // Garbage in the metadata.
            st.header.insert(
                "__metadata__".into(),
                serde_json::json!({"format": 7, "x": [1]}),
            );
            "odd __metadata__".into()
        }
        _ => {
            // A non-finite value in the tensor's data.
            let (a, b) = (
                offsets.first().copied()? as usize,
                offsets.get(1).copied()? as usize,
            );
            let width = match dtype.as_str() {
                "F32" => 4,
                "F64" => 8,
                _ => 2,
            };
            let n = (b - a) / width;
            if n == 0 {
                return None;
            }
            let i = rng.below(n);
            let v = poke_nonfinite(rng, &dtype, &mut st.data[a..b], i)?;
            format!("tensor {name}: element {i} set to {v}")
        }
    };
    Some(Mutation {
        bytes: write_st(&st),
        what,
        expect,
    })
}

/// The entries of a zip archive (name, bytes, deflated).
fn read_zip(b: &[u8]) -> Option<Vec<(String, Vec<u8>, bool)>> {
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(b)).ok()?;
    let mut out = vec![];
    for i in 0..z.len() {
        let mut f = z.by_index(i).ok()?;
        let mut data = vec![];
        f.read_to_end(&mut data).ok()?;
        let deflated = f.compression() != zip::CompressionMethod::Stored;
        out.push((f.name().ok()?.into_owned(), data, deflated));
    }
    Some(out)
}

fn write_zip(entries: &[(String, Vec<u8>, bool)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data, deflated) in entries {
        let method = if *deflated {
            zip::CompressionMethod::Deflated
        } else {
            zip::CompressionMethod::Stored
        };
        let opts = zip::write::SimpleFileOptions::default().compression_method(method);
        w.start_file(name.as_str(), opts).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// The opcodes of a pickle as (offset, length), as far as they can be told apart.
fn pickle_ops(p: &[u8]) -> Vec<(usize, usize)> {
    let mut ops = vec![];
    let mut i = 0;
    while i < p.len() {
        let arg = match p[i] {
            0x80 | b'K' | b'q' | b'h' => 1,
            b'M' => 2,
            b'J' | b'r' | b'j' => 4,
            b'G' => 8,
            b'X' => {
                let n = p
                    .get(i + 1..i + 5)
                    .map(|s| u32::from_le_bytes(s.try_into().unwrap()) as usize)
                    .unwrap_or(0);
                4 + n
            }
            0x8a => 1 + p.get(i + 1).copied().unwrap_or(0) as usize,
            b'c' => {
                let lines = p[i + 1..]
                    .iter()
                    .enumerate()
                    .filter(|(_, &c)| c == b'\n')
                    .nth(1)
                    .map(|(j, _)| j + 1);
                lines.unwrap_or(p.len() - i - 1)
            }
            _ => 0,
        };
        let len = (1 + arg).min(p.len() - i);
        ops.push((i, len));
        i += len;
    }
    ops
}

fn mutate_pickle(rng: &mut Rng, p: &[u8]) -> (Vec<u8>, String) {
    let ops = pickle_ops(p);
    let mut b = p.to_vec();
    let find = |pred: &dyn Fn(&[u8]) -> bool| -> Vec<(usize, usize)> {
        ops.iter()
            .copied()
            .filter(|&(o, l)| pred(&p[o..o + l]))
            .collect()
    };
    match rng.below(8) {
        0 => {
            // A tuple of another length: TUPLE / TUPLE1 / TUPLE2 / TUPLE3 swapped.
            let tuples = find(&|op| matches!(op[0], b't' | 0x85 | 0x86 | 0x87));
            if tuples.is_empty() {
                return (b, "no tuple to change".into());
            }
            let (o, _) = *rng.pick(&tuples);
            let new = *rng.pick(&[b't', 0x85, 0x86, 0x87, b')']);
            let old = b[o];
            b[o] = new;
            (b, format!("tuple opcode {old:#04x} at {o} -> {new:#04x}"))
        }
        1 => {
            let (o, l) = *rng.pick(&ops);
            b.drain(o..o + l);
            (b, format!("opcode {:#04x} at {o} deleted", p[o]))
        }
        2 => {
            let (o, l) = *rng.pick(&ops);
            let op = p[o..o + l].to_vec();
            b.splice(o..o, op);
            (b, format!("opcode {:#04x} at {o} duplicated", p[o]))
        }
        3 => {
            let ints = find(&|op| matches!(op[0], b'K' | b'M' | b'J'));
            if ints.is_empty() {
                return (b, "no int to change".into());
            }
            let (o, _) = *rng.pick(&ints);
            let new: i32 = *rng.pick(&[0, -1, 1, 7, i32::MAX, i32::MIN, 1 << 20]);
            let mut op = vec![b'J'];
            op.extend_from_slice(&new.to_le_bytes());
            let old_len = match p[o] {
                b'K' => 2,
                b'M' => 3,
                _ => 5,
            };
            b.splice(o..o + old_len, op);
            (b, format!("int at {o} -> {new}"))
        }
        4 => {
            let class = *rng.pick(&[
                "LongStorage",
                "ByteStorage",
                "IntStorage",
                "HalfStorage",
                "DoubleStorage",
                "BFloat16Storage",
                "BoolStorage",
                "NoStorage",
            ]);
            let text = String::from_utf8_lossy(p).into_owned();
            let Some(at) = text.find("FloatStorage") else {
                return (b, "no storage class".into());
            };
            b.splice(at..at + "FloatStorage".len(), class.bytes());
            (b, format!("storage class FloatStorage -> {class}"))
        }
        5 => {
            let strings = find(&|op| op[0] == b'X');
            if strings.is_empty() {
                return (b, "no string".into());
            }
            let (o, _) = *rng.pick(&strings);
            let n: u32 = *rng.pick(&[u32::MAX, 1 << 30, 0, 1000]);
            b[o + 1..o + 5].copy_from_slice(&n.to_le_bytes());
            (b, format!("string length at {o} -> {n}"))
        }
        6 => {
            // A long integer of too many bytes.
            let at = rng.below(b.len());
            b.splice(
                at..at,
                [0x8a, 40].into_iter().chain(std::iter::repeat_n(1u8, 40)),
            );
            (b, format!("LONG1 of 40 bytes inserted at {at}"))
        }
        _ => {
            let m = mutate_bytes(rng, p).unwrap();
            (m.bytes, format!("pickle: {}", m.what))
        }
    }
}

fn mutate_pt(rng: &mut Rng, data: &[u8]) -> Option<Mutation> {
    let mut entries = read_zip(data)?;
    let what = if rng.chance(65) {
        let i = entries.iter().position(|e| e.0.ends_with("data.pkl"))?;
        let (b, what) = mutate_pickle(rng, &entries[i].1);
        entries[i].1 = b;
        what
    } else if rng.chance(50) {
        // A non-finite value in a storage.
        let storages: Vec<usize> = (0..entries.len())
            .filter(|&i| entries[i].0.contains("/data/") && entries[i].1.len() >= 4)
            .collect();
        let i = *rng.pick(&storages);
        let n = entries[i].1.len() / 4;
        let at = rng.below(n);
        let v = poke_nonfinite(rng, "F32", &mut entries[i].1, at)?;
        format!("storage {}: element {at} set to {v}", entries[i].0)
    } else {
        // A storage shorter or longer than its tensors.
        let storages: Vec<usize> = (0..entries.len())
            .filter(|&i| entries[i].0.contains("/data/"))
            .collect();
        let i = *rng.pick(&storages);
        let len = entries[i].1.len();
        let new = if rng.chance(50) {
            rng.below(len)
        } else {
            len + 4
        };
        entries[i].1.resize(new, 0);
        format!("storage {}: {len} -> {new} bytes", entries[i].0)
    };
    plain(write_zip(&entries), what)
}

/// An `.npy` split into (descr, fortran_order, shape, data); `None` if it does not parse.
fn parse_npy(b: &[u8]) -> Option<(String, bool, Vec<u64>, Vec<u8>)> {
    if b.get(..6)? != b"\x93NUMPY" {
        return None;
    }
    let (hlen, start) = if b[6] == 1 {
        (u16::from_le_bytes([b[8], b[9]]) as usize, 10)
    } else {
        (
            u32::from_le_bytes(b.get(8..12)?.try_into().ok()?) as usize,
            12,
        )
    };
    let h = std::str::from_utf8(b.get(start..start + hlen)?).ok()?;
    let descr = h
        .split("'descr': '")
        .nth(1)?
        .split('\'')
        .next()?
        .to_string();
    let fortran = h.contains("'fortran_order': True");
    let shape: Vec<u64> = h
        .split("'shape': (")
        .nth(1)?
        .split(')')
        .next()?
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    Some((descr, fortran, shape, b[start + hlen..].to_vec()))
}

fn write_npy(descr: &str, fortran: bool, shape: &str, data: &[u8]) -> Vec<u8> {
    let mut h = format!(
        "{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape}, }}",
        if fortran { "True" } else { "False" }
    );
    while (10 + h.len() + 1) % 64 != 0 {
        h.push(' ');
    }
    h.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(h.len() as u16).to_le_bytes());
    out.extend_from_slice(h.as_bytes());
    out.extend_from_slice(data);
    out
}

fn shape_text(s: &[u64]) -> String {
    match s {
        [one] => format!("({one},)"),
        _ => format!(
            "({})",
            s.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
        ),
    }
}

fn mutate_npz(rng: &mut Rng, data: &[u8]) -> Option<Mutation> {
    let mut entries = read_zip(data)?;
    let i = rng.below(entries.len());
    let name = entries[i].0.clone();
    let (descr, fortran, shape, mut body) = parse_npy(&entries[i].1)?;
    let mut expect = Expect::Anything;
    let (new, what) = match rng.below(6) {
        0 => {
            let s = match rng.below(6) {
                0 => "(2147483648, 2147483648)".to_string(),
                1 => "(18446744073709551615,)".to_string(),
                2 => shape_text(&shape.iter().rev().copied().collect::<Vec<_>>()),
                3 => "()".to_string(),
                4 => "(0, 64)".to_string(),
                _ => {
                    let mut s = shape.clone();
                    s.push(2);
                    shape_text(&s)
                }
            };
            let what = format!("{name}: shape {shape:?} -> {s}");
            (write_npy(&descr, fortran, &s, &body), what)
        }
        1 => {
            let d = *rng.pick(&[
                "<i4", "<u4", "<i8", "|u1", "|b1", "<f2", "<f8", ">f4", "<c8", "zz",
            ]);
            if matches!(d, "<i4" | "<u4") {
                expect = Expect::DtypeError;
            }
            let what = format!("{name}: dtype {descr} -> {d}");
            (write_npy(d, fortran, &shape_text(&shape), &body), what)
        }
        2 => {
            let what = format!("{name}: fortran_order {fortran} -> {}", !fortran);
            (
                write_npy(&descr, !fortran, &shape_text(&shape), &body),
                what,
            )
        }
        3 => {
            let n = body.len() / 4;
            let at = rng.below(n.max(1));
            let v = poke_nonfinite(rng, &descr, &mut body, at)?;
            let what = format!("{name}: element {at} set to {v}");
            (write_npy(&descr, fortran, &shape_text(&shape), &body), what)
        }
        4 => {
            let m = mutate_bytes(rng, &entries[i].1)?;
            (m.bytes, format!("{name}: {}", m.what))
        }
        _ => {
            // A header that is not what numpy writes.
            let h = *rng.pick(&[
                "{'descr': '<f4', 'shape': (64, 256), }",
                "{'descr': '<f4', 'fortran_order': False, 'shape': (64, 256, }",
                "{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 256), }",
                "{'descr': '<f4', 'fortran_order': Maybe, 'shape': (64, 256), }",
                "{'descr': 7, 'fortran_order': False, 'shape': (64, 256), }",
                "not a dict at all",
                "",
            ]);
            let mut out = b"\x93NUMPY\x01\x00".to_vec();
            out.extend_from_slice(&(h.len() as u16).to_le_bytes());
            out.extend_from_slice(h.as_bytes());
            out.extend_from_slice(&body);
            (out, format!("{name}: header -> {h}"))
        }
    };
    entries[i].1 = new;
    Some(Mutation {
        bytes: write_zip(&entries),
        what,
        expect,
    })
}

fn mutate(rng: &mut Rng, file: &str, data: &[u8], is_sae: bool) -> Mutation {
    // A fifth of the cases damage bytes whatever the format; the rest understand it.
    let structured = if rng.chance(20) {
        None
    } else {
        match kind_of(file) {
            Kind::Json => mutate_json(rng, data),
            Kind::Safetensors => mutate_safetensors(rng, data, is_sae),
            Kind::Pt => mutate_pt(rng, data),
            Kind::Npz => mutate_npz(rng, data),
            Kind::Other => None,
        }
    };
    structured
        .or_else(|| mutate_bytes(rng, data))
        .unwrap_or_else(|| Mutation {
            bytes: vec![],
            what: "emptied".into(),
            expect: Expect::Anything,
        })
}

// ---------------------------------------------------------------------------------------------
// Running a case.

thread_local! {
    static IN_CASE: Cell<bool> = const { Cell::new(false) };
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Keeps panic messages of cases out of the output (they are reported with their case).
fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if IN_CASE.with(Cell::get) {
                LAST_PANIC.with(|p| *p.borrow_mut() = Some(info.to_string()));
            } else {
                prev(info)
            }
        }));
    });
}

/// Non-finite values in a tensor.
fn nonfinite(t: &Tensor) -> usize {
    t.to_dtype(DType::F32)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()
        .iter()
        .filter(|v| !v.is_finite())
        .count()
}

fn sae_tensors(s: &Sae) -> Vec<(&'static str, Tensor)> {
    let mut v = vec![
        ("w_enc", s.w_enc.to_tensor().unwrap()),
        ("b_enc", s.b_enc.clone()),
    ];
    if let Some(w) = &s.w_dec {
        v.push(("w_dec", w.to_tensor().unwrap()));
    }
    for (n, t) in [
        ("b_dec", &s.b_dec),
        ("input_bias", &s.input_bias),
        ("threshold", &s.threshold),
    ] {
        if let Some(t) = t {
            v.push((n, t.clone()));
        }
    }
    v
}

/// Loads (and uses) what is in `dir`; `Err(problem)` when the outcome breaks a rule.
fn check_case(
    target: &Target,
    dir: &Path,
    load_path: &Path,
    expect: Expect,
) -> Result<String, String> {
    let named = |e: &anyhow::Error| -> Result<String, String> {
        let msg = format!("{e:#}");
        if msg.contains("panicked") {
            return Err(format!("a panic turned into an error: {msg}"));
        }
        if !msg.contains(&dir.display().to_string()) {
            return Err(format!("the error does not name the file: {msg}"));
        }
        Ok(msg)
    };
    match &target.sae_options {
        Some(options) => {
            let spec: SaeSpec = format!("{}{options}", load_path.display())
                .parse()
                .map_err(|e| format!("spec: {e}"))?;
            // Weights read in place are checked finite at first use: force it here, as
            // `sae-info` does, so a NaN weight is a load error.
            match load_sae(&spec, &Device::Cpu).and_then(|s| s.ensure_finite().map(|_| s)) {
                Err(e) => {
                    let msg = named(&e)?;
                    if expect == Expect::DtypeError && !msg.contains("dtype") {
                        return Err(format!("expected an error naming the dtype: {msg}"));
                    }
                    if msg.contains("non-finite") {
                        // Only the values are wrong: allow_nonfinite must let it load.
                        let mut spec = spec.clone();
                        spec.allow_nonfinite = true;
                        let sae = load_sae(&spec, &Device::Cpu).map_err(|e| {
                            format!("allow_nonfinite=true did not let it load: {e:#}")
                        })?;
                        let x = Tensor::ones((2, sae.d_in()), DType::F32, &Device::Cpu).unwrap();
                        sae.encode(&x).map_err(|e| format!("encode: {e:#}"))?;
                    }
                    Ok(format!("err: {msg}"))
                }
                Ok(sae) => {
                    if expect == Expect::DtypeError {
                        return Err("an integer tensor loaded as a float".into());
                    }
                    for (n, t) in sae_tensors(&sae) {
                        let bad = nonfinite(&t);
                        if bad > 0 {
                            return Err(format!("loaded with {bad} non-finite values in {n}"));
                        }
                    }
                    // Use it: a few inputs through encode and decode.
                    let x = Tensor::randn(0f32, 1.0, (3, sae.d_in()), &Device::Cpu).unwrap();
                    match sae.encode(&x) {
                        Ok(f) => {
                            let _ = sae.decode(&f);
                            Ok("ok".into())
                        }
                        Err(e) => Ok(format!("encode err: {e:#}")),
                    }
                }
            }
        }
        None => match Model::load_dir(dir, &Device::Cpu, DType::F32) {
            Err(e) => Ok(format!("err: {}", named(&e)?)),
            Ok(model) => {
                let last = model.cfg.num_layers.saturating_sub(1);
                let hook: HookPoint = format!("blocks.{last}.hook_resid_post").parse().unwrap();
                let prompt = PromptSpec {
                    text: "Hello world".into(),
                    ..Default::default()
                };
                match capture_prompt(&model, &prompt, &[hook], &[], true) {
                    Err(e) => Ok(format!("capture err: {e:#}")),
                    Ok(res) => {
                        for (h, t) in &res.hooks {
                            if nonfinite(t) > 0 {
                                return Err(format!("capture Ok with non-finite values at {h}"));
                            }
                        }
                        if res.logits.as_ref().is_some_and(|l| nonfinite(l) > 0) {
                            return Err("capture Ok with non-finite logits".into());
                        }
                        Ok("ok".into())
                    }
                }
            }
        },
    }
}

struct Outcome {
    case: usize,
    description: String,
    problem: Option<String>,
    dir: tempfile::TempDir,
}

fn run_case(targets: &[Target], seed: u64, case: usize) -> Outcome {
    let mut rng = Rng::new(seed ^ (case as u64).wrapping_mul(0xA24B_AED4_963E_E407));
    let target = &targets[case % targets.len()];
    let file = rng.pick(&target.mutable).clone();
    let dir = tempfile::tempdir().unwrap();
    let single = target.source.is_file();
    let source_file = if single {
        target.source.clone()
    } else {
        target.source.join(&file)
    };
    let original = std::fs::read(&source_file).unwrap();
    let m = mutate(&mut rng, &file, &original, target.sae_options.is_some());
    let case_dir = dir.path().join("case");
    std::fs::create_dir(&case_dir).unwrap();
    if !single {
        for e in std::fs::read_dir(&target.source).unwrap() {
            let e = e.unwrap();
            if e.file_name().to_string_lossy() != file {
                std::os::unix::fs::symlink(e.path(), case_dir.join(e.file_name())).unwrap();
            }
        }
    }
    std::fs::write(case_dir.join(&file), &m.bytes).unwrap();
    let load_path = if single {
        case_dir.join(&file)
    } else {
        case_dir.clone()
    };
    let description = format!("case {case}: {} / {file}: {}", target.name, m.what);
    if std::env::var_os("SAFE_SAIL_FUZZ_VERBOSE").is_some() {
        eprintln!("start {description}");
    }
    IN_CASE.with(|c| c.set(true));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        check_case(target, &case_dir, &load_path, m.expect)
    }));
    IN_CASE.with(|c| c.set(false));
    let problem = match result {
        Ok(Ok(_)) => None,
        Ok(Err(p)) => Some(p),
        Err(_) => Some(format!(
            "PANIC: {}",
            LAST_PANIC
                .with(|p| p.borrow_mut().take())
                .unwrap_or_default()
        )),
    };
    Outcome {
        case,
        description,
        problem,
        dir,
    }
}

fn env_usize(name: &str) -> Option<usize> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

#[test]
fn mutated_checkpoints_and_configs_never_panic() {
    install_panic_hook();
    let targets = targets();
    let seed = std::env::var("SAFE_SAIL_FUZZ_SEED")
        .ok()
        .and_then(|s| {
            s.strip_prefix("0x")
                .map(|h| u64::from_str_radix(h, 16).ok())
                .unwrap_or_else(|| s.parse().ok())
        })
        .unwrap_or(DEFAULT_SEED);
    let cases: Vec<usize> = match env_usize("SAFE_SAIL_FUZZ_ONLY") {
        Some(i) => vec![i],
        None => (0..env_usize("SAFE_SAIL_FUZZ_CASES").unwrap_or(DEFAULT_CASES)).collect(),
    };
    let keep = std::env::var_os("SAFE_SAIL_FUZZ_KEEP").map(PathBuf::from);
    let start = std::time::Instant::now();
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(vec![]);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get().min(8));
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&case) = cases.get(i) else { break };
                let o = run_case(&targets, seed, case);
                if std::env::var_os("SAFE_SAIL_FUZZ_VERBOSE").is_some() {
                    eprintln!("{} -> {:?}", o.description, o.problem);
                }
                if let Some(p) = o.problem {
                    if let Some(keep) = &keep {
                        let to = keep.join(format!("case-{}", o.case));
                        std::fs::create_dir_all(&to).unwrap();
                        for e in std::fs::read_dir(o.dir.path().join("case")).unwrap() {
                            let e = e.unwrap();
                            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
                        }
                        std::fs::write(to.join("WHAT.txt"), format!("{}\n{p}\n", o.description))
                            .unwrap();
                    }
                    failures
                        .lock()
                        .unwrap()
                        .push(format!("{}\n    {p}", o.description));
                }
            });
        }
    });
    let mut failures = failures.into_inner().unwrap();
    failures.sort();
    eprintln!(
        "fuzz: {} cases (seed {seed:#x}) over {} fixtures in {:.1} s on {threads} threads; {} failed",
        cases.len(),
        targets.len(),
        start.elapsed().as_secs_f64(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} cases broke a rule:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// The crashers: small files that made the loaders panic, abort or load garbage before they
// were checked (tests/fixtures/crashers/README.md). Each must now give a clear error.

fn crashers() -> PathBuf {
    fixtures().join("crashers")
}

#[test]
fn crashers_give_clear_errors() {
    let manifest = common::read_json(&crashers().join("manifest.json"));
    let mut checked = 0;
    for c in manifest.as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        let path = crashers().join(c["path"].as_str().unwrap());
        let options = c["options"].as_str().unwrap_or("");
        let tmp = tempfile::tempdir().unwrap();
        let args: Vec<String> = match c["kind"].as_str().unwrap() {
            "sae" => vec!["sae-info".into(), format!("{}{options}", path.display())],
            "model-config" => {
                // A fixture model with this config.json.
                let base = fixtures().join("models").join(c["model"].as_str().unwrap());
                let dir = tmp.path().join("model");
                std::fs::create_dir(&dir).unwrap();
                for e in std::fs::read_dir(&base).unwrap() {
                    let e = e.unwrap();
                    std::fs::copy(e.path(), dir.join(e.file_name())).unwrap();
                }
                std::fs::copy(&path, dir.join("config.json")).unwrap();
                vec![
                    "capture".into(),
                    "--model".into(),
                    dir.display().to_string(),
                    "--prompt".into(),
                    "hi".into(),
                    "--out".into(),
                    tmp.path().join("out.safetensors").display().to_string(),
                ]
            }
            other => panic!("{name}: unknown kind {other}"),
        };
        let o = common::bin().args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{name}: {args:?}\n{err}");
        assert!(!err.contains("panicked"), "{name}: {err}");
        assert!(err.starts_with("error: "), "{name}: {err}");
        let file = c["names"].as_str().unwrap_or(c["path"].as_str().unwrap());
        assert!(
            err.contains(file),
            "{name}: the error must name {file}: {err}"
        );
        for want in c["expect"].as_array().unwrap() {
            let want = want.as_str().unwrap();
            assert!(err.contains(want), "{name}: expected `{want}` in: {err}");
        }
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} crashers");
}

/// A PyTorch pickle, opcode by opcode.
#[derive(Default)]
struct Pickle(Vec<u8>);

impl Pickle {
    fn op(&mut self, b: &[u8]) -> &mut Self {
        self.0.extend_from_slice(b);
        self
    }
    fn string(&mut self, s: &str) -> &mut Self {
        self.0.push(b'X');
        self.0.extend_from_slice(&(s.len() as u32).to_le_bytes());
        self.op(s.as_bytes())
    }
    fn global(&mut self, module: &str, class: &str) -> &mut Self {
        self.op(format!("c{module}\n{class}\n").as_bytes())
    }
    fn int(&mut self, i: i64) -> &mut Self {
        self.0.push(b'J');
        self.op(&(i as i32).to_le_bytes())
    }
    fn ints(&mut self, xs: &[i64]) -> &mut Self {
        self.op(b"(");
        for &x in xs {
            self.int(x);
        }
        self.op(b"t")
    }
}

/// One tensor of a state dict: its name, storage key and class, offset, size, stride; and
/// how to damage it.
struct PtTensor<'a> {
    name: &'a str,
    key: &'a str,
    class: &'a str,
    offset: i64,
    size: Vec<i64>,
    /// Arguments of `_rebuild_tensor_v2` to leave out (from the end).
    drop_args: usize,
    /// Fields of the storage id to leave out (from the end).
    drop_id_fields: usize,
}

impl<'a> PtTensor<'a> {
    fn new(name: &'a str, key: &'a str, size: &[i64]) -> Self {
        PtTensor {
            name,
            key,
            class: "FloatStorage",
            offset: 0,
            size: size.to_vec(),
            drop_args: 0,
            drop_id_fields: 0,
        }
    }
}

/// A `torch.save`d state dict with these tensors and storages (`extra` goes just before the
/// final STOP).
fn write_pt(path: &Path, tensors: &[PtTensor], storages: &[(&str, Vec<u8>)], extra: &[u8]) {
    let mut p = Pickle::default();
    p.op(b"\x80\x02}(");
    for t in tensors {
        p.string(t.name);
        p.global("torch._utils", "_rebuild_tensor_v2");
        p.op(b"(");
        // The storage id: ("storage", class, key, "cpu", numel).
        let numel: i64 = t.size.iter().product();
        let fields = 5 - t.drop_id_fields;
        let mut id = Pickle::default();
        id.op(b"(");
        for f in 0..fields {
            match f {
                0 => id.string("storage"),
                1 => id.global("torch", t.class),
                2 => id.string(t.key),
                3 => id.string("cpu"),
                _ => id.int(numel),
            };
        }
        id.op(b"tQ");
        p.op(&id.0);
        let mut stride = vec![1i64; t.size.len()];
        for i in (0..t.size.len().saturating_sub(1)).rev() {
            stride[i] = stride[i + 1] * t.size[i + 1];
        }
        let args = 4 - t.drop_args;
        if args > 1 {
            p.int(t.offset);
        }
        if args > 2 {
            p.ints(&t.size);
        }
        if args > 3 {
            p.ints(&stride);
            p.op(b"\x89");
            p.global("collections", "OrderedDict");
            p.op(b")R");
        }
        p.op(b"tR");
    }
    p.op(b"u");
    p.op(extra);
    p.op(b".");
    let mut entries = vec![("archive/data.pkl".to_string(), p.0, false)];
    for (key, bytes) in storages {
        entries.push((format!("archive/data/{key}"), bytes.clone(), false));
    }
    std::fs::write(path, write_zip(&entries)).unwrap();
}

fn f32_bytes(n: usize, f: impl Fn(usize) -> f32) -> Vec<u8> {
    (0..n).flat_map(|i| f(i).to_le_bytes()).collect()
}

/// A small valid weight value.
fn w(i: usize) -> f32 {
    ((i * 37 % 17) as f32 - 8.0) / 16.0
}

/// A tiny SAELens folder (d_in 4, d_sae 8) with this config and `W_enc` made by `w_enc`.
fn write_saelens(dir: &Path, cfg: Value, w_enc: Tensor) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("cfg.json"),
        serde_json::to_string_pretty(&cfg).unwrap(),
    )
    .unwrap();
    let t = |n: usize, shape: &[usize]| {
        Tensor::from_vec((0..n).map(w).collect::<Vec<f32>>(), shape, &Device::Cpu).unwrap()
    };
    let mut m = std::collections::HashMap::new();
    m.insert("W_enc".to_string(), w_enc);
    m.insert("b_enc".to_string(), t(8, &[8]));
    m.insert("W_dec".to_string(), t(32, &[8, 4]));
    m.insert("b_dec".to_string(), t(4, &[4]));
    candle_core::safetensors::save(&m, dir.join("sae_weights.safetensors")).unwrap();
}

/// Rewrites tests/fixtures/crashers (run by hand: `cargo test --test fuzz -- --ignored`).
#[test]
#[ignore]
fn write_crasher_files() {
    let out = crashers();
    let w_enc =
        || Tensor::from_vec((0..32).map(w).collect::<Vec<f32>>(), (4, 8), &Device::Cpu).unwrap();
    let hook = "blocks.1.hook_mlp_out";
    let topk = |k: i64| serde_json::json!({"architecture": "topk", "d_in": 4, "d_sae": 8, "k": k, "hook_name": hook});
    write_saelens(&out.join("saelens_k0"), topk(0), w_enc());
    write_saelens(&out.join("saelens_k_too_big"), topk(9), w_enc());
    write_saelens(
        &out.join("saelens_legacy_kwargs_k0"),
        serde_json::json!({"d_in": 4, "d_sae": 8, "hook_point": hook, "activation_fn_str": "topk",
                           "activation_fn_kwargs": {"k": 0}}),
        w_enc(),
    );
    let mut nan = (0..32).map(w).collect::<Vec<f32>>();
    nan[5] = f32::NAN;
    nan[17] = f32::INFINITY;
    write_saelens(
        &out.join("saelens_nan"),
        topk(2),
        Tensor::from_vec(nan, (4, 8), &Device::Cpu).unwrap(),
    );
    write_saelens(
        &out.join("saelens_int_weights"),
        topk(2),
        Tensor::from_vec(
            (0..32).map(|i| i as i64).collect::<Vec<i64>>(),
            (4, 8),
            &Device::Cpu,
        )
        .unwrap(),
    );
    // sparsify with k = 0.
    let sp = out.join("sparsify_k0");
    std::fs::create_dir_all(&sp).unwrap();
    std::fs::write(
        sp.join("cfg.json"),
        r#"{"activation": "topk", "k": 0, "d_in": 4, "num_latents": 8}"#,
    )
    .unwrap();
    let t = |n: usize, shape: &[usize]| {
        Tensor::from_vec((0..n).map(w).collect::<Vec<f32>>(), shape, &Device::Cpu).unwrap()
    };
    let mut m = std::collections::HashMap::new();
    m.insert("encoder.weight".to_string(), t(32, &[8, 4]));
    m.insert("encoder.bias".to_string(), t(8, &[8]));
    m.insert("W_dec".to_string(), t(32, &[8, 4]));
    m.insert("b_dec".to_string(), t(4, &[4]));
    candle_core::safetensors::save(&m, sp.join("sae.safetensors")).unwrap();
    // Safe-SAIL checkpoints (one component, d_in 4, d_sae 8).
    let storages = || {
        vec![
            ("0", f32_bytes(32, w)),
            ("1", f32_bytes(8, w)),
            ("2", f32_bytes(32, w)),
            ("3", f32_bytes(4, w)),
        ]
    };
    let tensors = || {
        vec![
            PtTensor::new("encoder.weight", "0", &[1, 8, 4]),
            PtTensor::new("encoder.bias", "1", &[1, 8]),
            PtTensor::new("decoder.weight", "2", &[1, 4, 8]),
            PtTensor::new("pre_encoder_bias._bias_reference", "3", &[1, 4]),
        ]
    };
    let mut ts = tensors();
    ts[0].drop_args = 2;
    write_pt(
        &out.join("safesail_short_rebuild_args.pt"),
        &ts,
        &storages(),
        b"",
    );
    let mut ts = tensors();
    ts[1].drop_id_fields = 1;
    write_pt(
        &out.join("safesail_short_storage_id.pt"),
        &ts,
        &storages(),
        b"",
    );
    // A LONG1 integer of 40 bytes (candle shifts by 8 per byte: overflow past 8).
    let mut long = vec![0x8a, 40];
    long.extend(std::iter::repeat_n(1u8, 40));
    write_pt(
        &out.join("safesail_long_integer.pt"),
        &tensors(),
        &storages(),
        &long,
    );
    let mut ts = tensors();
    ts[0].size = vec![2147483647, 1, 1024];
    write_pt(&out.join("safesail_huge_tensor.pt"), &ts, &storages(), b"");
    let mut ts = tensors();
    ts[0].class = "LongStorage";
    let mut st = storages();
    st[0].1 = (0..32u64).flat_map(|i| i.to_le_bytes()).collect();
    write_pt(&out.join("safesail_int_weights.pt"), &ts, &st, b"");
    let mut st = storages();
    st[2].1 = f32_bytes(32, |i| if i == 3 { f32::NAN } else { w(i) });
    write_pt(&out.join("safesail_nan.pt"), &tensors(), &st, b"");
    // Gemma Scope archives.
    let npz = |dir: &str, damage: &dyn Fn(&str) -> Option<Vec<u8>>| {
        let d = out.join(dir);
        std::fs::create_dir_all(&d).unwrap();
        let arrays = [
            ("W_enc", "(4, 8)", 32),
            ("W_dec", "(8, 4)", 32),
            ("b_enc", "(8,)", 8),
            ("b_dec", "(4,)", 4),
            ("threshold", "(8,)", 8),
        ];
        let entries: Vec<(String, Vec<u8>, bool)> = arrays
            .iter()
            .map(|(n, shape, count)| {
                let bytes = damage(n)
                    .unwrap_or_else(|| write_npy("<f4", false, shape, &f32_bytes(*count, w)));
                (format!("{n}.npy"), bytes, false)
            })
            .collect();
        std::fs::write(d.join("params.npz"), write_zip(&entries)).unwrap();
    };
    npz("gemmascope_huge_shape", &|n| {
        (n == "W_enc")
            .then(|| write_npy("<f4", false, "(2147483648, 2147483648)", &f32_bytes(32, w)))
    });
    npz("gemmascope_int_weights", &|n| {
        (n == "b_enc").then(|| {
            write_npy(
                "<i4",
                false,
                "(8,)",
                &(0..8i32).flat_map(|i| i.to_le_bytes()).collect::<Vec<u8>>(),
            )
        })
    });
    npz("gemmascope_inf_threshold", &|n| {
        (n == "threshold").then(|| {
            write_npy(
                "<f4",
                false,
                "(8,)",
                &f32_bytes(8, |i| if i == 2 { f32::NEG_INFINITY } else { 0.1 }),
            )
        })
    });
    // Model configs (used with a fixture model's weights).
    let cfg = |name: &str, model: &str, f: &dyn Fn(&mut Value)| {
        let mut v = common::read_json(&fixtures().join("models").join(model).join("config.json"));
        f(&mut v);
        std::fs::write(out.join(name), serde_json::to_string_pretty(&v).unwrap()).unwrap();
    };
    cfg("gpt2_huge_layer_count.json", "gpt2", &|v| {
        v["n_layer"] = Value::from(1u64 << 40)
    });
    cfg("qwen2_huge_context.json", "qwen2", &|v| {
        v["max_position_embeddings"] = Value::from(1u64 << 40)
    });
    cfg("gpt2_zero_layers.json", "gpt2", &|v| {
        v["n_layer"] = Value::from(0)
    });
}

#[test]
fn pt_tensors_at_a_storage_offset_are_read_from_there() {
    // Two views of one storage, as torch.save writes slices of a shared tensor.
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("views.pt");
    let mut b = PtTensor::new("b", "0", &[4]);
    b.offset = 6;
    write_pt(
        &path,
        &[PtTensor::new("a", "0", &[2, 2]), b],
        &[("0", f32_bytes(10, |i| i as f32))],
        b"",
    );
    let t: std::collections::HashMap<String, Tensor> =
        safe_sail::pt::read_pt(&path).unwrap().into_iter().collect();
    assert_eq!(t["a"].to_vec2::<f32>().unwrap(), [[0.0, 1.0], [2.0, 3.0]]);
    assert_eq!(t["b"].to_vec1::<f32>().unwrap(), [6.0, 7.0, 8.0, 9.0]);
    // A view past the end of its storage is an error, not garbage.
    let mut c = PtTensor::new("c", "0", &[4]);
    c.offset = 7;
    write_pt(&path, &[c], &[("0", f32_bytes(10, |i| i as f32))], b"");
    let err = format!("{:#}", safe_sail::pt::read_pt(&path).unwrap_err());
    assert!(
        err.contains("views.pt") && err.contains("shorter than its tensor"),
        "{err}"
    );
}
