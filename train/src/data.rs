//! Reading the handwriting set (`unipen-capitals-digits.npz`): the arrays
//! `flat`, `shapes`, `labels` and `src_file`, parsed from the `.npy`
//! members of the zip without anything else of NumPy's.

use anyhow::{bail, Context as _};
use std::io::Read as _;
use std::path::Path;

/// One hand-printed character: white paper 255, black ink 0.
pub struct Glyph {
    /// Width and height in pixels.
    pub w: usize,
    pub h: usize,
    /// The pixels, row by row.
    pub px: Vec<u8>,
    /// The class index in `formflow_extract::glyph::CLASSES`.
    pub class: usize,
    /// The recording (one writer's session) it came from.
    pub writer: String,
}

/// One `.npy` array: its type descriptor, shape and raw little-endian data.
struct Npy {
    descr: String,
    shape: Vec<usize>,
    data: Vec<u8>,
}

/// Reads the set, keeping the characters of `classes`.
pub fn load(path: &Path, classes: &str) -> anyhow::Result<Vec<Glyph>> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("could not open the handwriting set {}", path.display()))?;
    let mut zip = zip::ZipArchive::new(file)
        .with_context(|| format!("{} is not an .npz (zip) file", path.display()))?;
    let mut member = |name: &str| -> anyhow::Result<Npy> {
        let mut f = zip
            .by_name(&format!("{name}.npy"))
            .with_context(|| format!("{} has no array {name}", path.display()))?;
        let mut bytes = Vec::with_capacity(f.size() as usize);
        f.read_to_end(&mut bytes)
            .with_context(|| format!("could not read the array {name}"))?;
        parse(&bytes).with_context(|| format!("the array {name} is not a plain .npy array"))
    };
    let flat = member("flat")?;
    let shapes = member("shapes")?;
    let labels = member("labels")?;
    let writers = member("src_file")?;
    if flat.descr != "|u1" || labels.descr != "|u1" || shapes.descr != "<i4" {
        bail!(
            "unexpected array types: flat {}, labels {}, shapes {}",
            flat.descr,
            labels.descr,
            shapes.descr
        );
    }
    let n = labels.shape.first().copied().unwrap_or(0);
    if shapes.shape != [n, 2] || writers.shape != [n] {
        bail!("the arrays disagree on the number of characters");
    }
    let chars: Vec<char> = classes.chars().collect();
    let writer_at = strings(&writers)?;
    let mut out = Vec::with_capacity(n);
    let mut at = 0usize;
    for (i, writer) in writer_at.into_iter().enumerate().take(n) {
        let dim = |k: usize| {
            let o = (2 * i + k) * 4;
            i32::from_le_bytes([
                shapes.data[o],
                shapes.data[o + 1],
                shapes.data[o + 2],
                shapes.data[o + 3],
            ])
        };
        let (h, w) = (dim(0).max(0) as usize, dim(1).max(0) as usize);
        let end = at + w * h;
        if end > flat.data.len() {
            bail!("the pixels end before character {i}");
        }
        let px = flat.data[at..end].to_vec();
        at = end;
        let c = labels.data[i] as char;
        if let Some(class) = chars.iter().position(|&k| k == c) {
            out.push(Glyph {
                w,
                h,
                px,
                class,
                writer,
            });
        }
    }
    Ok(out)
}

/// Parses a version 1-3 `.npy` array in C order.
fn parse(bytes: &[u8]) -> anyhow::Result<Npy> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        bail!("no .npy magic");
    }
    let (len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => bail!("unknown .npy version {v}"),
    };
    let header = std::str::from_utf8(bytes.get(start..start + len).context("short header")?)?;
    let field = |key: &str| -> anyhow::Result<&str> {
        let k = header
            .find(&format!("'{key}':"))
            .with_context(|| format!("no {key} in the header"))?;
        Ok(header[k + key.len() + 3..].trim_start())
    };
    if field("fortran_order")?.starts_with("True") {
        bail!("Fortran order");
    }
    let d = field("descr")?;
    let descr = d
        .trim_start_matches('\'')
        .split('\'')
        .next()
        .unwrap_or_default()
        .to_string();
    let s = field("shape")?;
    let s = &s[1..s.find(')').context("bad shape")?];
    let shape = s
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| p.parse::<usize>().context("bad shape"))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Npy {
        descr,
        shape,
        data: bytes[start + len..].to_vec(),
    })
}

/// The strings of a fixed-width unicode array (`<U{n}`, UTF-32).
fn strings(a: &Npy) -> anyhow::Result<Vec<String>> {
    let width: usize = a
        .descr
        .strip_prefix("<U")
        .context("not a unicode array")?
        .parse()?;
    let n = a.shape.first().copied().unwrap_or(0);
    if a.data.len() < n * width * 4 {
        bail!("short unicode array");
    }
    Ok((0..n)
        .map(|i| {
            a.data[i * width * 4..(i + 1) * width * 4]
                .chunks_exact(4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .take_while(|&c| c != 0)
                .filter_map(char::from_u32)
                .collect()
        })
        .collect())
}
