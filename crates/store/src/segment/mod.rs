//! Segments: immutable files of blocks, one stream's entries per block, with a bloom
//! filter per block, a stream table and a block index ahead of the trailer.
//! Layout byte by byte: `docs/format/segment.md`.

pub(crate) mod block;
mod column;
mod reader;
mod writer;

pub use block::BlockMeta;
pub(crate) use block::EncodedBlock;
pub(crate) use reader::Segment;
pub(crate) use writer::{encode_blocks, write_segment, BlockSpec, SegmentInfo, SegmentWriter};
