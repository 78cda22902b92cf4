//! PNG and JPEG: one page each, decoded through the `image` crate.
//!
//! The headers are walked by hand first, without decoding anything: that
//! gives the pixel size (checked against the limits before any large
//! allocation), the resolution fields for `dpi.rs`, and whether the file is
//! complete (a PNG must reach its `IEND` chunk, a JPEG its end-of-image
//! marker; decoders tend to fill a cut-off image with grey and say nothing).

use std::io::Cursor;

use image::metadata::Orientation;
use image::{DynamicImage, GrayImage, ImageDecoder, ImageError, ImageFormat, ImageReader};

use super::dpi::{self, Dpi};
use super::{DecodeError, Format, Limits, Page};

/// A PNG or JPEG file whose header was read and checked.
pub(super) struct RasterFile {
    bytes: Vec<u8>,
    format: Format,
    header: Header,
    limits: Limits,
}

/// What the header walk found.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Header {
    width: u32,
    height: u32,
    dpi: Option<Dpi>,
}

impl RasterFile {
    /// Reads and checks the header of a PNG or JPEG file.
    pub fn open(
        bytes: Vec<u8>,
        format: Format,
        limits: &Limits,
    ) -> Result<RasterFile, DecodeError> {
        let header = match format {
            Format::Png => png_header(&bytes)?,
            Format::Jpeg => jpeg_header(&bytes)?,
            Format::Pdf | Format::Tiff => {
                return Err(DecodeError::Unsupported {
                    format,
                    what: "not a single image".into(),
                    cause: None,
                })
            }
        };
        check_pixels(None, header.width, header.height, limits)?;
        Ok(RasterFile {
            bytes,
            format,
            header,
            limits: limits.clone(),
        })
    }

    /// Decodes the image: greyscale, EXIF orientation applied.
    pub fn page(&mut self, number: u32) -> Result<Page, DecodeError> {
        let Header { width, height, dpi } = self.header;
        check_pixels(None, width, height, &self.limits)?;
        let image_format = if self.format == Format::Png {
            ImageFormat::Png
        } else {
            ImageFormat::Jpeg
        };
        let fail = |e| image_error(self.format, e, width, height, &self.limits);

        let mut reader = ImageReader::with_format(Cursor::new(self.bytes.as_slice()), image_format);
        reader.limits(image_limits(&self.limits));
        let mut decoder = reader.into_decoder().map_err(fail)?;
        let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
        let mut image = DynamicImage::from_decoder(decoder).map_err(fail)?;
        image.apply_orientation(orientation);

        let image = to_gray(image);
        let quarter_turn = matches!(
            orientation,
            Orientation::Rotate90
                | Orientation::Rotate270
                | Orientation::Rotate90FlipH
                | Orientation::Rotate270FlipH
        );
        let found = if quarter_turn {
            dpi.map(Dpi::swapped)
        } else {
            dpi
        };
        let dpi = dpi::resolve(image.width(), image.height(), found);
        Ok(Page {
            image,
            dpi: dpi.x,
            dpi_y: dpi.y,
            number,
        })
    }
}

/// Refuses a page of more pixels than the limit, before it is decoded.
pub(super) fn check_pixels(
    page: Option<u32>,
    width: u32,
    height: u32,
    limits: &Limits,
) -> Result<(), DecodeError> {
    let pixels = u64::from(width).saturating_mul(u64::from(height));
    if pixels > limits.max_page_pixels {
        return Err(DecodeError::TooManyPixels {
            page,
            width: width.into(),
            height: height.into(),
            limit: limits.max_page_pixels,
        });
    }
    Ok(())
}

/// The `image` crate's own limits, a second line behind `check_pixels`: no
/// side longer than the pixel limit, and no more memory than such a page in
/// 16-bit RGBA plus slack.
fn image_limits(limits: &Limits) -> image::Limits {
    let side = u32::try_from(limits.max_page_pixels).unwrap_or(u32::MAX);
    let mut l = image::Limits::default();
    l.max_image_width = Some(side);
    l.max_image_height = Some(side);
    l.max_alloc = Some(
        limits
            .max_page_pixels
            .saturating_mul(8)
            .saturating_add(64 * 1024 * 1024),
    );
    l
}

fn image_error(
    format: Format,
    e: ImageError,
    width: u32,
    height: u32,
    limits: &Limits,
) -> DecodeError {
    match e {
        ImageError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            DecodeError::Truncated {
                format,
                cause: Some(io.into()),
            }
        }
        ImageError::Limits(_) => DecodeError::TooManyPixels {
            page: None,
            width: width.into(),
            height: height.into(),
            limit: limits.max_page_pixels,
        },
        ImageError::Unsupported(u) => DecodeError::Unsupported {
            format,
            what: "an unusual encoding".into(),
            cause: Some(u.into()),
        },
        other => DecodeError::damaged(format, other),
    }
}

/// Colour to luma, 16 bits to 8, and transparency laid over white paper.
pub(super) fn to_gray(image: DynamicImage) -> GrayImage {
    if !image.color().has_alpha() {
        return image.into_luma8();
    }
    let la = image.into_luma_alpha8();
    GrayImage::from_fn(la.width(), la.height(), |x, y| {
        let [v, a] = la.get_pixel(x, y).0;
        let (v, a) = (u32::from(v), u32::from(a));
        image::Luma([((v * a + 255 * (255 - a) + 127) / 255) as u8])
    })
}

/// Walks a PNG's chunks: size from `IHDR`, resolution from `pHYs`, and
/// whether the file reaches `IEND` with every chunk whole.
fn png_header(bytes: &[u8]) -> Result<Header, DecodeError> {
    let damaged = |why: &str| DecodeError::damaged(Format::Png, why.to_string());
    let truncated = || DecodeError::Truncated {
        format: Format::Png,
        cause: None,
    };
    let mut pos = 8usize;
    let mut size = None;
    let mut dpi = None;
    loop {
        let len = dpi::be_u32(bytes, pos).ok_or_else(truncated)?;
        let kind = bytes.get(pos + 4..pos + 8).ok_or_else(truncated)?;
        let data_start = pos + 8;
        let data_end = usize::try_from(len)
            .ok()
            .and_then(|l| data_start.checked_add(l));
        let next = data_end
            .and_then(|e| e.checked_add(4))
            .filter(|&n| n <= bytes.len())
            .ok_or_else(truncated)?;
        let data = bytes.get(data_start..next - 4).unwrap_or_default();
        match kind {
            b"IHDR" => {
                let width = dpi::be_u32(data, 0).ok_or_else(|| damaged("short IHDR"))?;
                let height = dpi::be_u32(data, 4).ok_or_else(|| damaged("short IHDR"))?;
                size = Some((width, height));
            }
            b"pHYs" => dpi = dpi::png_phys(data),
            b"IEND" => break,
            _ if size.is_none() => return Err(damaged("IHDR is not the first chunk")),
            _ => {}
        }
        pos = next;
    }
    match size {
        Some((width, height)) if width > 0 && height > 0 => Ok(Header { width, height, dpi }),
        _ => Err(damaged("no image size")),
    }
}

/// Walks a JPEG's segments up to the image data: size from the frame
/// header, resolution from JFIF or EXIF, and whether an end-of-image marker
/// follows the data.
fn jpeg_header(bytes: &[u8]) -> Result<Header, DecodeError> {
    let damaged = |why: &str| DecodeError::damaged(Format::Jpeg, why.to_string());
    let truncated = || DecodeError::Truncated {
        format: Format::Jpeg,
        cause: None,
    };
    let mut pos = 2usize;
    let (mut size, mut jfif, mut exif) = (None, None, None);
    let scan_start = loop {
        if bytes.get(pos) != Some(&0xFF) {
            return Err(if pos >= bytes.len() {
                truncated()
            } else {
                damaged("no marker where one was due")
            });
        }
        while bytes.get(pos) == Some(&0xFF) {
            pos += 1;
        }
        let marker = *bytes.get(pos).ok_or_else(truncated)?;
        pos += 1;
        match marker {
            0x01 | 0xD0..=0xD8 => continue,
            0xD9 => return Err(damaged("the image ends before its data")),
            _ => {}
        }
        let len = usize::from(dpi::be_u16(bytes, pos).ok_or_else(truncated)?);
        if len < 2 {
            return Err(damaged("a segment shorter than its own length field"));
        }
        let end = pos
            .checked_add(len)
            .filter(|&e| e <= bytes.len())
            .ok_or_else(truncated)?;
        let data = bytes.get(pos + 2..end).unwrap_or_default();
        match marker {
            0xE0 if jfif.is_none() => jfif = dpi::jfif_density(data),
            0xE1 if exif.is_none() => exif = dpi::exif_resolution(data),
            // Start of frame, all coding processes (C4, C8 and CC are not frames).
            0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) => {
                let height = dpi::be_u16(data, 1).ok_or_else(|| damaged("short frame header"))?;
                let width = dpi::be_u16(data, 3).ok_or_else(|| damaged("short frame header"))?;
                size = Some((u32::from(width), u32::from(height)));
            }
            0xDA => break end,
            _ => {}
        }
        pos = end;
    };
    let (width, height) = size.ok_or_else(|| damaged("no frame header before the image data"))?;
    if width == 0 || height == 0 {
        return Err(DecodeError::Unsupported {
            format: Format::Jpeg,
            what: "its height is given after the image data".into(),
            cause: None,
        });
    }
    // Entropy-coded data escapes every 0xFF, so FF D9 after the first scan
    // header can only be the end-of-image marker.
    let data = bytes.get(scan_start..).unwrap_or_default();
    if !data.windows(2).any(|w| w == [0xFF, 0xD9]) {
        return Err(truncated());
    }
    Ok(Header {
        width,
        height,
        dpi: jfif.or(exif),
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{assert_ink, sample};
    use super::super::Source;
    use super::*;

    fn decode_one(rel: &str) -> Page {
        let mut s = Source::open(sample(rel), &Limits::default()).expect("opens");
        assert_eq!(s.page_count(), 1);
        s.page(0).expect("decodes")
    }

    #[test]
    fn jpeg_150_dpi_from_jfif() {
        let page = decode_one("documents/voter-registration-025.jpg");
        assert_eq!(page.image.dimensions(), (1241, 1754));
        assert_eq!((page.dpi, page.dpi_y, page.number), (150.0, 150.0, 1));
        assert_ink(&page);
    }

    #[test]
    fn png_1_bit_300_dpi_from_phys() {
        let page = decode_one("documents/voter-registration-035.png");
        assert_eq!(page.image.dimensions(), (2481, 3508));
        assert!(
            (page.dpi - 300.0).abs() < 0.01 && (page.dpi_y - 300.0).abs() < 0.01,
            "{} {}",
            page.dpi,
            page.dpi_y
        );
        assert_ink(&page);
    }

    #[test]
    fn png_header_needs_iend_and_whole_chunks() {
        let png = sample("documents/voter-registration-035.png");
        assert!(png_header(&png).is_ok());
        for cut in [8, 20, 33, 40, png.len() / 2, png.len() - 1] {
            let e = png_header(&png[..cut]).err().map(|e| e.to_string());
            assert_eq!(
                e.as_deref(),
                Some("the PNG is cut short (truncated): scan it again"),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn jpeg_header_survives_every_cut_and_bad_length() {
        let jpg = sample("documents/voter-registration-025.jpg");
        assert_eq!(
            jpeg_header(&jpg).ok().map(|h| (h.width, h.height)),
            Some((1241, 1754))
        );
        for cut in (0..600).chain([jpg.len() / 2, jpg.len() - 1]) {
            assert!(
                jpeg_header(jpg.get(..cut).unwrap_or_default()).is_err(),
                "cut at {cut}"
            );
        }
        let mut bad = jpg.clone();
        bad[4] = 0;
        bad[5] = 1; // APP0 length 1
        assert!(jpeg_header(&bad).is_err());
    }

    #[test]
    fn damaged_jpeg_data_is_an_error_not_a_panic() {
        let mut jpg = sample("documents/voter-registration-025.jpg");
        let mid = jpg.len() / 2;
        for b in jpg.iter_mut().skip(mid).take(2000) {
            *b = 0xFF;
        }
        // Garbage in the data may decode to a damaged picture or fail; it must not panic.
        let _ = Source::open(jpg, &Limits::default()).and_then(|mut s| s.page(0));
    }

    #[test]
    fn transparency_is_laid_over_white() {
        let mut rgba = image::RgbaImage::new(2, 1);
        rgba.put_pixel(0, 0, image::Rgba([0, 0, 0, 0]));
        rgba.put_pixel(1, 0, image::Rgba([0, 0, 0, 255]));
        let gray = to_gray(DynamicImage::ImageRgba8(rgba));
        assert_eq!(gray.as_raw(), &vec![255, 0]);
        let deep = image::ImageBuffer::<image::Luma<u16>, Vec<u16>>::from_raw(2, 1, vec![0, 65535])
            .expect("2 pixels");
        assert_eq!(
            to_gray(DynamicImage::ImageLuma16(deep)).as_raw(),
            &vec![0, 255]
        );
    }
}
