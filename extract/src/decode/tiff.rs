//! TIFF: multi-page, through the `tiff` crate.
//!
//! Every directory (IFD) is read at open, so the page count, each page's
//! size and resolution are known and checked before any pixel is decoded;
//! reduced-resolution copies (thumbnails) are skipped when full pages exist.
//! Bilevel CCITT Group 4, LZW and the other common compressions are decoded
//! by the crate, which also turns WhiteIsZero into BlackIsZero, so the
//! samples handed here are always 0 = black.

use std::io::Cursor;

use ::tiff::decoder::ifd::Value;
use ::tiff::decoder::{Decoder, DecodingResult};
use ::tiff::tags::Tag;
use ::tiff::{ColorType, TiffError, TiffUnsupportedError};
use image::GrayImage;

use super::dpi::{self, Dpi};
use super::raster::check_pixels;
use super::{page_label, DecodeError, Format, Limits, Page};

/// Directories read at most, so that a file of endless tiny directories
/// cannot keep a worker busy (the crate already refuses cycles).
const MAX_DIRECTORIES: usize = 10_000;

/// An opened TIFF file: its decoder and what each page's directory says.
pub(super) struct TiffFile {
    decoder: Decoder<Cursor<Vec<u8>>>,
    pages: Vec<Directory>,
    limits: Limits,
}

/// One image directory, as read at open.
#[derive(Debug, Clone, Copy)]
struct Directory {
    index: usize,
    width: u32,
    height: u32,
    dpi: Option<Dpi>,
    reduced: bool,
}

impl TiffFile {
    /// Reads every directory and checks the page count and page sizes.
    pub fn open(bytes: Vec<u8>, limits: &Limits) -> Result<TiffFile, DecodeError> {
        let mut decoder = Decoder::new(Cursor::new(bytes))
            .map_err(tiff_error)?
            .with_limits(tiff_limits(limits));
        let mut directories = Vec::new();
        loop {
            directories.push(describe(&mut decoder, directories.len())?);
            if !decoder.more_images() || directories.len() >= MAX_DIRECTORIES {
                break;
            }
            decoder.next_image().map_err(tiff_error)?;
        }
        // Thumbnails are dropped, unless they are all there is.
        let mut pages: Vec<Directory> =
            directories.iter().copied().filter(|d| !d.reduced).collect();
        if pages.is_empty() {
            pages = directories;
        }
        if pages.len() > limits.max_pages {
            return Err(DecodeError::TooManyPages {
                format: Format::Tiff,
                pages: pages.len(),
                limit: limits.max_pages,
            });
        }
        let count = pages.len();
        for (number, page) in (1u32..).zip(&pages) {
            check_pixels(page_label(number, count), page.width, page.height, limits)?;
        }
        Ok(TiffFile {
            decoder,
            pages,
            limits: limits.clone(),
        })
    }

    /// How many pages the file has.
    pub fn page_count(&self) -> usize {
        self.pages.len()
    }

    /// Decodes page `index` (from 0) to greyscale.
    pub fn page(&mut self, index: usize, number: u32) -> Result<Page, DecodeError> {
        let count = self.pages.len();
        let dir = *self.pages.get(index).ok_or(DecodeError::NoSuchPage {
            number: index.saturating_add(1),
            count,
        })?;
        check_pixels(
            page_label(number, count),
            dir.width,
            dir.height,
            &self.limits,
        )?;
        self.decoder.seek_to_image(dir.index).map_err(tiff_error)?;
        if self.decoder.dimensions().map_err(tiff_error)? != (dir.width, dir.height) {
            return Err(DecodeError::damaged(
                Format::Tiff,
                "a directory changed between reads",
            ));
        }
        let color = self.decoder.colortype().map_err(tiff_error)?;
        let samples = self.decoder.read_image().map_err(tiff_error)?;
        let image = to_gray(samples, color, dir.width, dir.height)?;
        let dpi = dpi::resolve(dir.width, dir.height, dir.dpi);
        Ok(Page {
            image,
            dpi: dpi.x,
            dpi_y: dpi.y,
            number,
        })
    }
}

/// The crate's limits: one page's samples at 16-bit RGBA at most.
fn tiff_limits(limits: &Limits) -> ::tiff::decoder::Limits {
    let mut l = ::tiff::decoder::Limits::default();
    l.decoding_buffer_size =
        usize::try_from(limits.max_page_pixels.saturating_mul(8)).unwrap_or(usize::MAX);
    l
}

/// Size, resolution and kind of the decoder's current directory.
fn describe(
    decoder: &mut Decoder<Cursor<Vec<u8>>>,
    index: usize,
) -> Result<Directory, DecodeError> {
    let (width, height) = decoder.dimensions().map_err(tiff_error)?;
    if width == 0 || height == 0 {
        return Err(DecodeError::damaged(Format::Tiff, "an image of no pixels"));
    }
    // Resolution is a nicety: an unreadable one is treated as absent.
    let x = decoder
        .find_tag(Tag::XResolution)
        .ok()
        .flatten()
        .and_then(number);
    let y = decoder
        .find_tag(Tag::YResolution)
        .ok()
        .flatten()
        .and_then(number);
    let unit = decoder
        .find_tag_unsigned::<u16>(Tag::ResolutionUnit)
        .ok()
        .flatten();
    let subfile = decoder
        .find_tag_unsigned::<u32>(Tag::NewSubfileType)
        .ok()
        .flatten()
        .unwrap_or(0);
    // A file cut in transfer keeps its directories when they come first, and
    // the decoders then fill the missing pixels silently: check that every
    // strip or tile lies within the file.
    let file_len = u64::try_from(decoder.inner().get_ref().len()).unwrap_or(u64::MAX);
    for (offsets, counts) in [
        (Tag::StripOffsets, Tag::StripByteCounts),
        (Tag::TileOffsets, Tag::TileByteCounts),
    ] {
        let offsets = decoder
            .find_tag_unsigned_vec::<u64>(offsets)
            .ok()
            .flatten()
            .unwrap_or_default();
        let counts = decoder
            .find_tag_unsigned_vec::<u64>(counts)
            .ok()
            .flatten()
            .unwrap_or_default();
        if offsets
            .iter()
            .zip(&counts)
            .any(|(&o, &c)| o.checked_add(c).is_none_or(|end| end > file_len))
        {
            return Err(DecodeError::Truncated {
                format: Format::Tiff,
                cause: None,
            });
        }
    }
    Ok(Directory {
        index,
        width,
        height,
        dpi: dpi::tiff_resolution(x, y, unit),
        reduced: subfile & 1 == 1,
    })
}

/// A tag value as a number (resolutions are RATIONAL, sometimes not).
#[allow(deprecated)] // RationalBig: not in BigTIFF's standard tags, still readable
fn number(value: Value) -> Option<f64> {
    match value {
        Value::Rational(n, d) => (d != 0).then(|| f64::from(n) / f64::from(d)),
        Value::RationalBig(n, d) => (d != 0).then(|| n as f64 / d as f64),
        Value::Float(v) => Some(f64::from(v)),
        Value::Double(v) => Some(v),
        Value::Short(v) => Some(f64::from(v)),
        Value::Unsigned(v) => Some(f64::from(v)),
        Value::List(values) => values.into_iter().next().and_then(number),
        _ => None,
    }
}

fn tiff_error(e: TiffError) -> DecodeError {
    let format = Format::Tiff;
    match e {
        TiffError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            DecodeError::Truncated {
                format,
                cause: Some(io.into()),
            }
        }
        TiffError::UnsupportedError(u) => {
            let what = match &u {
                TiffUnsupportedError::UnknownCompressionMethod
                | TiffUnsupportedError::UnsupportedCompressionMethod(_) => {
                    "a compression this program does not know"
                }
                TiffUnsupportedError::InterpretationWithBits(..)
                | TiffUnsupportedError::UnknownInterpretation => "palette or other unusual colours",
                _ => "an unusual layout of its samples",
            };
            DecodeError::Unsupported {
                format,
                what: what.into(),
                cause: Some(u.into()),
            }
        }
        other => DecodeError::damaged(format, other),
    }
}

/// How the samples of one pixel make a grey level.
#[derive(Debug, Clone, Copy)]
enum Layout {
    Gray,
    GrayAlpha,
    Rgb,
    Rgba,
    Cmyk,
    CmykAlpha,
    /// YCbCr or several bands: the first sample is the brightness.
    FirstOf(usize),
}

impl Layout {
    fn samples(self) -> usize {
        match self {
            Layout::Gray => 1,
            Layout::GrayAlpha => 2,
            Layout::Rgb => 3,
            Layout::Rgba | Layout::Cmyk => 4,
            Layout::CmykAlpha => 5,
            Layout::FirstOf(n) => n,
        }
    }
}

/// Turns decoded samples into 8-bit grey, 0 = black.
fn to_gray(
    result: DecodingResult,
    color: ColorType,
    width: u32,
    height: u32,
) -> Result<GrayImage, DecodeError> {
    let unsupported = |what: &str| DecodeError::Unsupported {
        format: Format::Tiff,
        what: what.to_string(),
        cause: None,
    };
    let (layout, bits) = match color {
        ColorType::Gray(b) => (Layout::Gray, b),
        ColorType::GrayA(b) => (Layout::GrayAlpha, b),
        ColorType::RGB(b) => (Layout::Rgb, b),
        ColorType::RGBA(b) => (Layout::Rgba, b),
        ColorType::CMYK(b) => (Layout::Cmyk, b),
        ColorType::CMYKA(b) => (Layout::CmykAlpha, b),
        ColorType::YCbCr(b) => (Layout::FirstOf(3), b),
        ColorType::Multiband {
            bit_depth,
            num_samples,
        } if num_samples > 0 => (Layout::FirstOf(usize::from(num_samples)), bit_depth),
        _ => return Err(unsupported("palette or other unusual colours")),
    };
    match (result, bits) {
        (DecodingResult::U8(buf), 8) => from_samples(&buf, width, height, layout, |v| v),
        (DecodingResult::U16(buf), 16) => {
            from_samples(&buf, width, height, layout, |v| (v >> 8) as u8)
        }
        (DecodingResult::U8(buf), 1 | 2 | 4) if layout.samples() == 1 => {
            unpack_bits(&buf, width, height, bits)
        }
        _ => Err(unsupported(&format!(
            "{bits}-bit or floating-point samples"
        ))),
    }
}

fn from_samples<T: Copy>(
    buf: &[T],
    width: u32,
    height: u32,
    layout: Layout,
    to8: impl Fn(T) -> u8,
) -> Result<GrayImage, DecodeError> {
    let n = layout.samples();
    let pixels = usize::try_from(u64::from(width) * u64::from(height)).unwrap_or(usize::MAX);
    if n == 0 || pixels.checked_mul(n).is_none_or(|need| buf.len() < need) {
        return Err(DecodeError::damaged(
            Format::Tiff,
            "fewer samples than pixels",
        ));
    }
    let over_white = |v: u32, a: u32| (v * a + 255 * (255 - a) + 127) / 255;
    let luma = |r: u32, g: u32, b: u32| (2126 * r + 7152 * g + 722 * b + 5000) / 10000;
    let grey: Vec<u8> = buf
        .chunks_exact(n)
        .take(pixels)
        .map(|px| {
            let s = |i: usize| px.get(i).map_or(0, |&v| u32::from(to8(v)));
            let v = match layout {
                Layout::Gray | Layout::FirstOf(_) => s(0),
                Layout::GrayAlpha => over_white(s(0), s(1)),
                Layout::Rgb => luma(s(0), s(1), s(2)),
                Layout::Rgba => over_white(luma(s(0), s(1), s(2)), s(3)),
                Layout::Cmyk | Layout::CmykAlpha => {
                    let k = 255 - s(3);
                    luma(
                        (255 - s(0)) * k / 255,
                        (255 - s(1)) * k / 255,
                        (255 - s(2)) * k / 255,
                    )
                }
            };
            v.min(255) as u8
        })
        .collect();
    GrayImage::from_raw(width, height, grey)
        .ok_or_else(|| DecodeError::damaged(Format::Tiff, "fewer pixels than its size"))
}

/// 1, 2 or 4 bits a pixel, rows padded to whole bytes, to 0..=255.
fn unpack_bits(buf: &[u8], width: u32, height: u32, bits: u8) -> Result<GrayImage, DecodeError> {
    let short = || DecodeError::damaged(Format::Tiff, "fewer samples than pixels");
    let bits = usize::from(bits);
    let w = usize::try_from(width).map_err(|_| short())?;
    let row_bytes = w.checked_mul(bits).ok_or_else(short)?.div_ceil(8);
    let rows = usize::try_from(height).map_err(|_| short())?;
    if row_bytes
        .checked_mul(rows)
        .is_none_or(|need| buf.len() < need)
    {
        return Err(short());
    }
    let max = (1u32 << bits) - 1;
    // Each byte value's pixels, looked up: a bilevel page is millions of
    // pixels, and this ran a shift, mask and division for every one.
    let per = 8 / bits;
    let mut table = [[0u8; 8]; 256];
    for (byte, px) in table.iter_mut().enumerate() {
        for (i, p) in px.iter_mut().take(per).enumerate() {
            let v = (byte as u32 >> (8 - bits - i * bits)) & max;
            *p = (v * 255 / max) as u8;
        }
    }
    let mut grey = Vec::with_capacity(w.saturating_mul(rows));
    for row in buf.chunks_exact(row_bytes).take(rows) {
        let end = grey.len() + w;
        for &byte in row {
            grey.extend_from_slice(&table[usize::from(byte)][..per]);
        }
        // The padding at the row's end is not pixels.
        grey.truncate(end);
    }
    GrayImage::from_raw(width, height, grey).ok_or_else(short)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{assert_ink, sample};
    use super::super::Source;
    use super::*;

    fn decode_all(rel: &str) -> Vec<Page> {
        let mut s = Source::open(sample(rel), &Limits::default()).expect("opens");
        assert_eq!(s.format(), Format::Tiff);
        (0..s.page_count())
            .map(|i| s.page(i).expect("decodes"))
            .collect()
    }

    #[test]
    fn tiff_group4_two_pages_200_dpi() {
        let pages = decode_all("documents/legal-aid-cw1-018.tif");
        assert_eq!(pages.len(), 2);
        for (i, page) in pages.iter().enumerate() {
            assert_eq!(page.number as usize, i + 1);
            assert_eq!(page.image.dimensions(), (1654, 2339));
            assert_eq!((page.dpi, page.dpi_y), (200.0, 200.0));
            assert_ink(page);
        }
    }

    #[test]
    fn tiff_lzw_greyscale_two_pages_200_dpi() {
        let pages = decode_all("documents/legal-aid-cw1-028.tif");
        assert_eq!(pages.len(), 2);
        for page in &pages {
            assert_eq!(page.image.dimensions(), (1654, 2339));
            assert_eq!((page.dpi, page.dpi_y), (200.0, 200.0));
            assert_ink(page);
        }
    }

    #[test]
    fn tiff_group4_one_page_300_dpi() {
        let pages = decode_all("documents/voter-registration-012.tif");
        assert_eq!(pages.len(), 1);
        assert_eq!(pages[0].image.dimensions(), (2481, 3508));
        assert_eq!((pages[0].dpi, pages[0].dpi_y), (300.0, 300.0));
        assert_ink(&pages[0]);
    }

    /// A one-strip uncompressed TIFF, little-endian, one sample a pixel.
    fn tiny_tiff(width: u32, height: u32, bits: u16, photometric: u16, data: &[u8]) -> Vec<u8> {
        let entries: [(u16, u16, u32); 9] = [
            (256, 4, width),
            (257, 4, height),
            (258, 3, u32::from(bits)),
            (259, 3, 1),
            (262, 3, u32::from(photometric)),
            (273, 4, 8 + 2 + 9 * 12 + 4),
            (277, 3, 1),
            (278, 4, height),
            (279, 4, data.len() as u32),
        ];
        let mut t = b"II*\0\x08\0\0\0".to_vec();
        t.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        for (tag, kind, value) in entries {
            t.extend_from_slice(&tag.to_le_bytes());
            t.extend_from_slice(&kind.to_le_bytes());
            t.extend_from_slice(&1u32.to_le_bytes());
            if kind == 3 {
                t.extend_from_slice(&(value as u16).to_le_bytes());
                t.extend_from_slice(&[0, 0]);
            } else {
                t.extend_from_slice(&value.to_le_bytes());
            }
        }
        t.extend_from_slice(&0u32.to_le_bytes());
        t.extend_from_slice(data);
        t
    }

    fn grey_of(tiff: Vec<u8>) -> Vec<u8> {
        let mut s = Source::open(tiff, &Limits::default()).expect("opens");
        s.page(0).expect("decodes").image.into_raw()
    }

    #[test]
    fn tiff_photometric_is_normalised_to_black_is_zero() {
        // 8-bit: WhiteIsZero 0 is white paper, BlackIsZero 0 is black ink.
        assert_eq!(grey_of(tiny_tiff(2, 1, 8, 0, &[0, 255])), vec![255, 0]);
        assert_eq!(grey_of(tiny_tiff(2, 1, 8, 1, &[0, 255])), vec![0, 255]);
        // 1-bit, 10 pixels so the row is padded: 1 means black in WhiteIsZero.
        let row = [0b1000_0000, 0b0100_0000];
        let white_is_zero = grey_of(tiny_tiff(10, 1, 1, 0, &row));
        assert_eq!(
            white_is_zero,
            vec![0, 255, 255, 255, 255, 255, 255, 255, 255, 0]
        );
        let black_is_zero = grey_of(tiny_tiff(10, 1, 1, 1, &row));
        assert_eq!(black_is_zero, vec![255, 0, 0, 0, 0, 0, 0, 0, 0, 255]);
    }

    #[test]
    fn packed_pixels_unpack_to_levels_and_row_padding_is_dropped() {
        // Three pixels a row, two rows; each row padded to a whole byte.
        let one = unpack_bits(&[0b1010_0000, 0b0110_0000], 3, 2, 1).unwrap();
        assert_eq!(one.as_raw(), &[255, 0, 255, 0, 255, 255]);
        let two = unpack_bits(&[0b0001_1011, 0b1110_0100], 3, 2, 2).unwrap();
        assert_eq!(two.as_raw(), &[0, 85, 170, 255, 170, 85]);
        let four = unpack_bits(&[0xF0, 0x70, 0x0F, 0x80], 3, 2, 4).unwrap();
        assert_eq!(four.as_raw(), &[255, 0, 119, 0, 255, 136]);
        assert!(unpack_bits(&[0xFF], 3, 2, 1).is_err(), "a row short");
    }

    #[test]
    fn tiff_without_resolution_assumes_a4() {
        let mut s =
            Source::open(tiny_tiff(2, 1, 8, 1, &[0, 255]), &Limits::default()).expect("opens");
        let page = s.page(0).expect("decodes");
        assert!((page.dpi - 2.0 / 11.69).abs() < 1e-4);
    }

    #[test]
    fn tiff_cut_or_garbled_is_an_error_not_a_panic() {
        let tif = sample("documents/legal-aid-cw1-028.tif");
        // (Its last bytes hold only page 2's resolution, hence 1000.)
        for cut in [4, 8, 100, tif.len() / 3, tif.len() - 1000] {
            let r = Source::open(tif[..cut].to_vec(), &Limits::default())
                .and_then(|mut s| (0..s.page_count()).try_for_each(|i| s.page(i).map(drop)));
            assert!(r.is_err(), "cut at {cut} decoded");
        }
        // Directory first, pixels after: the cut is seen before decoding.
        let tiny = tiny_tiff(4, 2, 8, 1, &[0; 8]);
        let e = Source::open(tiny[..tiny.len() - 1].to_vec(), &Limits::default())
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("the TIFF is cut short (truncated): scan it again")
        );
        let mut garbled = tif.clone();
        for b in garbled.iter_mut().skip(2000).step_by(7).take(5000) {
            *b ^= 0x5A;
        }
        let _ = Source::open(garbled, &Limits::default()).and_then(|mut s| s.page(0));
    }

    #[test]
    fn tiff_pages_over_the_pixel_limit_are_refused_at_open() {
        let few = Limits {
            max_page_pixels: 1_000_000,
            ..Limits::default()
        };
        let e = Source::open(sample("documents/legal-aid-cw1-018.tif"), &few)
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some(
                "page 1 would be 1654 x 2339 pixels (3.9 megapixels); the limit is 1 \
                 megapixel a page"
            )
        );
        let one = Limits {
            max_pages: 1,
            ..Limits::default()
        };
        let e = Source::open(sample("documents/legal-aid-cw1-018.tif"), &one)
            .err()
            .map(|e| e.to_string());
        assert_eq!(e.as_deref(), Some("the TIFF has 2 pages; the limit is 1"));
    }
}
