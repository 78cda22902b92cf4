//! The extraction engine: scan bytes in, checked fields out.
//!
//! A pure library: no async runtime, database or queue. It owns every step
//! from a file's bytes to [`formflow_schemas::Record`]s:
//!
//! - [`decode`]: sniff the format by content, check limits, and yield pages
//!   one at a time (PDF through pdfium, TIFF, PNG, JPEG);
//! - [`prepare`]: greyscale, background levelling and binarisation;
//! - [`register`]: find the printed box lines, deskew, orientation, and place
//!   each template page on the scan; [`identify`] says which form and page;
//! - [`ocr`] and [`read`]: read text boxes, comb cells, tick boxes, choices
//!   and signatures into raw candidates;
//! - [`normalise`] and [`validate`]: turn candidates into contract values
//!   using each field type's grammar, and apply the template's rules;
//! - [`pipeline`]: ties them together per file, including batch splitting;
//! - [`crop`]: pictures of a page or a field for people, through a stored
//!   pose; [`review`]: a caseworker's corrections checked by the same
//!   grammar and rules, and every flag explained in words.
//!
//! The caller chooses threads: an [`Engine`] is shared, and each thread
//! extracts with its own [`pipeline::Worker`] (Tesseract handles are not
//! shared between threads).

pub mod clean;
pub mod crop;
pub mod decode;
pub mod error;
pub mod fuse;
pub mod glyph;
pub mod identify;
pub mod normalise;
pub mod ocr;
pub mod pipeline;
pub mod pool;
pub mod prepare;
pub mod raw;
pub mod read;
pub mod register;
pub mod review;
pub mod validate;

pub use crop::{field_crop, page_view};
pub use decode::{Limits, Page};
pub use error::ExtractError;
pub use pipeline::{Engine, PageResult, PageTiming, Worker};
pub use pool::{Extraction, Observer, Pool, PreparedPage};
pub use register::Pose;
pub use review::{check_record, check_typed, explain, explain_field, Typed};
