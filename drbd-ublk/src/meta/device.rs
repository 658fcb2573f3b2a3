//! Metadata on a real file or block device: `create-md`, reading and writing the superblock,
//! AL ring blocks and bitmap pages with positioned I/O (`pread`/`pwrite` through
//! [`std::os::unix::fs::FileExt`]).
//!
//! This is the control-path implementation (create-md, attach, apply-al, tools and tests); the
//! data path may issue the same writes through its own ring using the offsets of
//! [`Layout`].
//!
//! # create-md safety
//!
//! [`create_md`] refuses, unless forced, when
//! * valid metadata of ours (or DRBD 8.x/9 metadata) is already at the superblock position, or
//! * a file-system or volume signature is found where the metadata goes (for internal
//!   metadata: at the start of the backing device, because the data area shrinks under an
//!   existing file system; for external metadata: at the start of the metadata slot). An
//!   existing file system on the backing device is fine with external metadata, which never
//!   touches it (DRBD's documented way to put an existing file system under replication).
//!
//! The metadata is written in the order AL ring (zeroed) → bitmap (all clear) → superblock,
//! then synced, so a crash during create-md leaves no valid superblock behind.

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::activity_log::{self, AlConfig, AlRecovery, AL_BLOCK_SIZE};
use super::bitmap::{Bitmap, BitmapError, PAGE_SIZE};
use super::generation::{MdFlags, Uuids};
use super::layout::{Layout, LayoutError, Placement, SUPERBLOCK_BYTES};
use super::superblock::{SbError, Superblock, SB_SIZE};

/// Where the metadata goes (`meta-disk`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetaDisk {
    /// `meta-disk internal;`
    Internal,
    /// `meta-disk /dev/X;` (flexible external: the whole device).
    External(PathBuf),
    /// `meta-disk /dev/X [N];` (128 MiB slot N).
    Indexed(PathBuf, u32),
}

impl MetaDisk {
    fn placement(&self) -> Placement {
        match self {
            MetaDisk::Internal => Placement::Internal,
            MetaDisk::External(_) => Placement::FlexibleExternal,
            MetaDisk::Indexed(_, n) => Placement::Indexed(*n),
        }
    }
}

/// Options of [`create_md`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CreateOptions {
    /// Overwrite existing metadata or a file-system signature.
    pub force: bool,
    /// AL geometry and `al-extents`.
    pub al: AlConfig,
    /// Random identifier of the backing device (the caller draws it).
    pub device_uuid: u64,
}

/// Errors of metadata I/O; every variant names the device and, where it applies, the block.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MetaError {
    /// Open failed.
    #[error("{path}: cannot open: {source}")]
    Open {
        /// Device or file.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// Read, write or sync failed.
    #[error("{path}: {op} at byte {offset} failed: {source}")]
    Io {
        /// Device or file.
        path: PathBuf,
        /// "read", "write", "sync", "size".
        op: &'static str,
        /// Byte offset.
        offset: u64,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// Device too small.
    #[error("{path}: {source}")]
    TooSmall {
        /// Device or file.
        path: PathBuf,
        /// Sizes.
        #[source]
        source: LayoutError,
    },
    /// Valid metadata is already there (create-md without force).
    #[error(
        "{path}: valid {what} found at byte {offset}; refusing to overwrite it without --force"
    )]
    ExistingMetadata {
        /// Device or file.
        path: PathBuf,
        /// "metadata" or "DRBD 8.x metadata" etc.
        what: &'static str,
        /// Byte offset of the superblock.
        offset: u64,
    },
    /// A file system or volume signature is where the metadata would go.
    #[error(
        "{path}: found {what} signature at byte {offset}; refusing to overwrite it without --force"
    )]
    Signature {
        /// Device or file.
        path: PathBuf,
        /// What was found ("ext2/3/4 file system", "XFS file system", …).
        what: &'static str,
        /// Byte offset of the signature.
        offset: u64,
    },
    /// The superblock is unreadable.
    #[error("{path}: superblock at byte {offset}: {source}")]
    Superblock {
        /// Device or file.
        path: PathBuf,
        /// Byte offset.
        offset: u64,
        /// What is wrong.
        #[source]
        source: SbError,
    },
    /// A bitmap page is unreadable.
    #[error("{path}: bitmap page {page} at byte {offset}: {source}")]
    BitmapPage {
        /// Device or file.
        path: PathBuf,
        /// Page number.
        page: usize,
        /// Byte offset.
        offset: u64,
        /// What is wrong.
        #[source]
        source: BitmapError,
    },
    /// The superblock describes another layout than the devices give.
    #[error("{path}: superblock field {field} is {on_disk}, the device layout gives {expected}")]
    LayoutMismatch {
        /// Device or file.
        path: PathBuf,
        /// Field.
        field: &'static str,
        /// Value in the superblock.
        on_disk: i64,
        /// Value computed.
        expected: i64,
    },
    /// Invalid AL options.
    #[error("activity log: {0}")]
    Al(#[from] activity_log::AlError),
}

/// An open metadata target with its layout.
#[derive(Debug)]
pub struct MetaDevice {
    file: File,
    path: PathBuf,
    layout: Layout,
    no_flush: bool,
}

fn open_rw(path: &Path) -> Result<File, MetaError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|source| MetaError::Open { path: path.to_owned(), source })
}

/// Size in bytes of a file or block device (seek to its end).
///
/// # Errors
/// [`MetaError::Io`] if the seek fails.
pub fn device_size(file: &mut File, path: &Path) -> Result<u64, MetaError> {
    file.seek(SeekFrom::End(0)).map_err(|source| MetaError::Io {
        path: path.to_owned(),
        op: "size",
        offset: 0,
        source,
    })
}

fn read_at(file: &File, path: &Path, buf: &mut [u8], offset: u64) -> Result<(), MetaError> {
    file.read_exact_at(buf, offset).map_err(|source| MetaError::Io {
        path: path.to_owned(),
        op: "read",
        offset,
        source,
    })
}

fn write_at(file: &File, path: &Path, buf: &[u8], offset: u64) -> Result<(), MetaError> {
    file.write_all_at(buf, offset).map_err(|source| MetaError::Io {
        path: path.to_owned(),
        op: "write",
        offset,
        source,
    })
}

impl MetaDevice {
    /// `md-flushes no`: metadata writes are not followed by a flush (for devices whose
    /// write cache survives power loss).
    pub fn set_no_flush(&mut self, no_flush: bool) {
        self.no_flush = no_flush;
    }

    fn sync(&self) -> Result<(), MetaError> {
        if self.no_flush {
            return Ok(());
        }
        sync(&self.file, &self.path)
    }
}

fn sync(file: &File, path: &Path) -> Result<(), MetaError> {
    file.sync_data().map_err(|source| MetaError::Io {
        path: path.to_owned(),
        op: "sync",
        offset: 0,
        source,
    })
}

/// File-system and volume signatures recognised by [`detect_signature`]:
/// (name, byte offset, bytes).
const SIGNATURES: &[(&str, u64, &[u8])] = &[
    ("ext2/3/4 file system", 1080, &[0x53, 0xef]),
    ("XFS file system", 0, b"XFSB"),
    ("btrfs file system", 0x10040, b"_BHRfS_M"),
    ("LUKS volume", 0, b"LUKS\xba\xbe"),
    ("LUKS2 volume", 0, b"SKUL\xba\xbe"),
    ("swap space", 4086, b"SWAPSPACE2"),
    ("swap space (v0)", 4086, b"SWAP-SPACE"),
    ("LVM2 physical volume", 512 + 24, b"LVM2 001"),
    ("GPT partition table", 512, b"EFI PART"),
    ("ZFS member", 0x20000 - 8, &[0x0c, 0xb1, 0xba, 0x00]),
];

/// Bytes to read from the start of an area to check every signature.
pub const SIGNATURE_SCAN_BYTES: usize = 0x20000;

/// First file-system or volume signature in `head` (the first bytes of an area), as
/// (description, offset).
pub fn detect_signature(head: &[u8]) -> Option<(&'static str, u64)> {
    SIGNATURES.iter().find_map(|&(what, off, magic)| {
        let o = off as usize;
        (head.len() >= o + magic.len() && &head[o..o + magic.len()] == magic).then_some((what, off))
    })
}

/// Recognise metadata at a superblock position (ours or DRBD's v08/v09 magic at byte 60).
fn detect_metadata(sb: &[u8]) -> Option<&'static str> {
    if Superblock::decode(sb).is_ok() {
        return Some("metadata");
    }
    match u32::from_be_bytes(sb[60..64].try_into().expect("4 bytes")) {
        0x8374_026b | 0x8374_026c => Some("DRBD 8.x metadata"),
        0x8374_026d => Some("DRBD 9 metadata"),
        _ => None,
    }
}

/// Open backing and metadata target; return the metadata file, its path and both sizes.
fn open_targets(backing: &Path, meta: &MetaDisk) -> Result<(File, PathBuf, u64, u64), MetaError> {
    let mut data = open_rw(backing)?;
    let backing_bytes = device_size(&mut data, backing)?;
    match meta {
        MetaDisk::Internal => Ok((data, backing.to_owned(), backing_bytes, backing_bytes)),
        MetaDisk::External(p) | MetaDisk::Indexed(p, _) => {
            let mut f = open_rw(p)?;
            let meta_bytes = device_size(&mut f, p)?;
            Ok((f, p.clone(), backing_bytes, meta_bytes))
        }
    }
}

/// `create-md`: write fresh metadata (identifiers "just created", bitmap clear, AL empty,
/// AL_CLEAN) for `backing` with metadata at `meta`.
///
/// # Errors
/// Device too small (with the bytes needed), existing metadata or a file-system signature
/// without `force`, I/O errors; see [`MetaError`].
pub fn create_md(
    backing: &Path,
    meta: &MetaDisk,
    opts: &CreateOptions,
) -> Result<MetaDevice, MetaError> {
    opts.al.validate()?;
    let (file, path, backing_bytes, meta_bytes) = open_targets(backing, meta)?;
    let layout = Layout::compute(meta.placement(), opts.al, backing_bytes, meta_bytes)
        .map_err(|source| MetaError::TooSmall { path: path.clone(), source })?;
    let dev = MetaDevice { file, path, layout, no_flush: false };
    if !opts.force {
        dev.check_overwrite(meta_bytes)?;
    }
    let mut zero = vec![0u8; 256 * PAGE_SIZE];
    let al_bytes = layout.al.size_sectors() * 512;
    let mut off = 0;
    while off < al_bytes {
        let n = (al_bytes - off).min(zero.len() as u64) as usize;
        write_at(&dev.file, &dev.path, &zero[..n], layout.al_offset + off)?;
        off += n as u64;
    }
    let mut bm = Bitmap::new(layout.usable_sectors);
    bm.mark_all_dirty();
    dev.write_dirty_bitmap(&mut bm)?;
    let used = bm.pages() as u64 * PAGE_SIZE as u64;
    zero.fill(0);
    let mut off = used;
    while off < layout.bm_bytes {
        let n = (layout.bm_bytes - off).min(zero.len() as u64) as usize;
        write_at(&dev.file, &dev.path, &zero[..n], layout.bm_offset + off)?;
        off += n as u64;
    }
    let sb = Superblock {
        device_size_sectors: layout.usable_sectors,
        flags: MdFlags(MdFlags::AL_CLEAN),
        uuids: Uuids::just_created(),
        device_uuid: opts.device_uuid,
        md_size_sectors: layout.md_size_sectors,
        al_offset_sectors: layout.al_offset_rel_sectors(),
        al: layout.al,
        meta_index: layout.placement.index(),
        bm_offset_sectors: layout.bm_offset_rel_sectors(),
        bm_size_bytes: layout.bm_bytes,
        bytes_per_bit: 4096,
        peer_max_bio_size: 0,
    };
    dev.write_superblock(&sb)?;
    Ok(dev)
}

/// Open existing metadata: locate and verify the superblock (magic, checksum, version) and
/// check that it matches the layout the devices give.
///
/// # Errors
/// [`MetaError::Superblock`] (naming the block and the problem), [`MetaError::LayoutMismatch`],
/// I/O errors.
pub fn read_md(backing: &Path, meta: &MetaDisk) -> Result<(MetaDevice, Superblock), MetaError> {
    let (file, path, backing_bytes, meta_bytes) = open_targets(backing, meta)?;
    let sb_offset = match meta.placement() {
        Placement::Internal => ((backing_bytes / 512) & !7) * 512,
        Placement::FlexibleExternal => SUPERBLOCK_BYTES,
        Placement::Indexed(n) => {
            u64::from(n) * super::layout::INDEXED_SLOT_BYTES + SUPERBLOCK_BYTES
        }
    }
    .checked_sub(SUPERBLOCK_BYTES)
    .ok_or_else(|| MetaError::TooSmall {
        path: path.clone(),
        source: LayoutError::TooSmall {
            what: "backing device",
            have: backing_bytes,
            need: SUPERBLOCK_BYTES,
        },
    })?;
    let mut buf = vec![0u8; SB_SIZE];
    read_at(&file, &path, &mut buf, sb_offset)?;
    let sb = Superblock::decode(&buf).map_err(|source| MetaError::Superblock {
        path: path.clone(),
        offset: sb_offset,
        source,
    })?;
    let layout = Layout::compute(meta.placement(), sb.al, backing_bytes, meta_bytes)
        .map_err(|source| MetaError::TooSmall { path: path.clone(), source })?;
    let checks: [(&'static str, i64, i64); 5] = [
        ("al_offset", sb.al_offset_sectors, layout.al_offset_rel_sectors()),
        ("bm_offset", sb.bm_offset_sectors, layout.bm_offset_rel_sectors()),
        ("md_size_sectors", sb.md_size_sectors as i64, layout.md_size_sectors as i64),
        ("meta_index", i64::from(sb.meta_index), i64::from(layout.placement.index())),
        ("bm_size_bytes", sb.bm_size_bytes as i64, layout.bm_bytes as i64),
    ];
    for (field, on_disk, expected) in checks {
        if on_disk != expected {
            return Err(MetaError::LayoutMismatch { path, field, on_disk, expected });
        }
    }
    if sb.device_size_sectors > layout.usable_sectors {
        return Err(MetaError::LayoutMismatch {
            path,
            field: "device_size_sectors",
            on_disk: sb.device_size_sectors as i64,
            expected: layout.usable_sectors as i64,
        });
    }
    Ok((MetaDevice { file, path, layout, no_flush: false }, sb))
}

impl MetaDevice {
    /// The layout in use.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Path of the metadata target.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Refuse to overwrite existing metadata or a signature (create-md without force).
    fn check_overwrite(&self, target_bytes: u64) -> Result<(), MetaError> {
        let mut sb = vec![0u8; SB_SIZE];
        read_at(&self.file, &self.path, &mut sb, self.layout.superblock_offset)?;
        if let Some(what) = detect_metadata(&sb) {
            return Err(MetaError::ExistingMetadata {
                path: self.path.clone(),
                what,
                offset: self.layout.superblock_offset,
            });
        }
        // Internal: the start of the backing device; external: the start of the slot.
        let base = match self.layout.placement {
            Placement::Internal => 0,
            _ => self.layout.superblock_offset,
        };
        let n = (SIGNATURE_SCAN_BYTES as u64).min(target_bytes.saturating_sub(base)) as usize;
        let mut head = vec![0u8; n];
        read_at(&self.file, &self.path, &mut head, base)?;
        if let Some((what, off)) = detect_signature(&head) {
            return Err(MetaError::Signature { path: self.path.clone(), what, offset: base + off });
        }
        Ok(())
    }

    /// Read and verify the superblock.
    ///
    /// # Errors
    /// [`MetaError::Superblock`] naming the block, or I/O errors.
    pub fn read_superblock(&self) -> Result<Superblock, MetaError> {
        let mut buf = vec![0u8; SB_SIZE];
        let offset = self.layout.superblock_offset;
        read_at(&self.file, &self.path, &mut buf, offset)?;
        Superblock::decode(&buf).map_err(|source| MetaError::Superblock {
            path: self.path.clone(),
            offset,
            source,
        })
    }

    /// Write the superblock and make it durable (`fdatasync`).
    ///
    /// # Errors
    /// I/O errors.
    pub fn write_superblock(&self, sb: &Superblock) -> Result<(), MetaError> {
        let mut buf = vec![0u8; SB_SIZE];
        sb.encode(&mut buf);
        write_at(&self.file, &self.path, &buf, self.layout.superblock_offset)?;
        self.sync()
    }

    /// Write one AL transaction block (from `ActivityLog::start_transaction`) to ring block
    /// `ring_block` and make it durable.
    ///
    /// # Errors
    /// I/O errors.
    ///
    /// # Panics
    /// If `block` is not 4096 bytes or `ring_block` is outside the ring.
    pub fn write_al_slot(&self, ring_block: u32, block: &[u8]) -> Result<(), MetaError> {
        assert_eq!(block.len(), AL_BLOCK_SIZE, "AL block size");
        assert!(
            ring_block < self.layout.al.ring_blocks(),
            "AL ring block {ring_block} out of range"
        );
        write_at(&self.file, &self.path, block, self.layout.al_block_offset(ring_block))?;
        self.sync()
    }

    /// Read the whole AL ring (for [`activity_log::recover`]).
    ///
    /// # Errors
    /// I/O errors.
    pub fn read_al_ring(&self) -> Result<Vec<u8>, MetaError> {
        let mut buf = vec![0u8; self.layout.al.ring_blocks() as usize * AL_BLOCK_SIZE];
        read_at(&self.file, &self.path, &mut buf, self.layout.al_offset)?;
        Ok(buf)
    }

    /// Write the dirty pages of `bm` within `pages`, clear their dirty marks, and sync.
    /// Returns the number of pages written.
    ///
    /// # Errors
    /// I/O errors (pages not yet written stay dirty).
    ///
    /// # Panics
    /// If the bitmap does not fit the reserved area (a bitmap for another device).
    pub fn write_bitmap_pages(
        &self,
        bm: &mut Bitmap,
        pages: std::ops::Range<usize>,
    ) -> Result<usize, MetaError> {
        assert!(
            bm.pages() as u64 * PAGE_SIZE as u64 <= self.layout.bm_bytes,
            "bitmap larger than its area"
        );
        let mut buf = vec![0u8; PAGE_SIZE];
        let mut written = 0;
        for p in pages.start..pages.end.min(bm.pages()) {
            if !bm.is_page_dirty(p) {
                continue;
            }
            bm.encode_page(p, &mut buf);
            write_at(&self.file, &self.path, &buf, self.layout.bm_page_offset(p))?;
            written += 1;
        }
        if written > 0 {
            self.sync()?;
        }
        for p in pages.start..pages.end.min(bm.pages()) {
            bm.clear_dirty(p);
        }
        Ok(written)
    }

    /// Write every dirty page of `bm` (see [`MetaDevice::write_bitmap_pages`]).
    ///
    /// # Errors
    /// I/O errors.
    pub fn write_dirty_bitmap(&self, bm: &mut Bitmap) -> Result<usize, MetaError> {
        let n = bm.pages();
        self.write_bitmap_pages(bm, 0..n)
    }

    /// Read and verify the bitmap for a device of `capacity_sectors`.
    ///
    /// # Errors
    /// [`MetaError::BitmapPage`] naming the first bad page, or I/O errors.
    pub fn read_bitmap(&self, capacity_sectors: u64) -> Result<Bitmap, MetaError> {
        let mut bm = Bitmap::new(capacity_sectors);
        let mut buf = vec![0u8; PAGE_SIZE];
        for p in 0..bm.pages() {
            let offset = self.layout.bm_page_offset(p);
            read_at(&self.file, &self.path, &mut buf, offset)?;
            bm.decode_page(p, &buf).map_err(|source| MetaError::BitmapPage {
                path: self.path.clone(),
                page: p,
                offset,
                source,
            })?;
        }
        Ok(bm)
    }

    /// `apply-al`: if the superblock is not AL_CLEAN, replay the AL ring into the on-disk
    /// bitmap (all bits of every recovered extent; everything if AL updates were disabled),
    /// write the bitmap, then set AL_CLEAN and write the superblock. Returns the recovery (use
    /// [`AlRecovery::next_tr`] for the next `ActivityLog`), or `None` if already clean.
    ///
    /// # Errors
    /// Unreadable bitmap, I/O errors.
    pub fn apply_al(&self, sb: &mut Superblock) -> Result<Option<AlRecovery>, MetaError> {
        if sb.flags.contains(MdFlags::AL_CLEAN) {
            return Ok(None);
        }
        let ring = self.read_al_ring()?;
        let rec = activity_log::recover(&sb.al, &ring);
        let mut bm = self.read_bitmap(sb.device_size_sectors)?;
        if sb.flags.contains(MdFlags::AL_DISABLED) {
            bm.set_all();
        } else {
            for &e in &rec.extents {
                bm.set_out_of_sync(activity_log::extent_sectors(e));
            }
        }
        self.write_dirty_bitmap(&mut bm)?;
        sb.flags.set(MdFlags::AL_CLEAN, true);
        self.write_superblock(sb)?;
        Ok(Some(rec))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::activity_log::{ActivityLog, AlBegin, SECTORS_PER_EXTENT};
    use std::process::Command;

    const MIB: u64 = 1 << 20;

    fn temp_file(dir: &tempfile::TempDir, name: &str, size: u64) -> PathBuf {
        let p = dir.path().join(name);
        let f = File::create(&p).unwrap();
        f.set_len(size).unwrap();
        p
    }

    fn tmpdir() -> tempfile::TempDir {
        tempfile::Builder::new().prefix("meta-engine-").tempdir().unwrap()
    }

    fn opts() -> CreateOptions {
        CreateOptions { device_uuid: 0xabcd_ef01_2345_6789, ..Default::default() }
    }

    #[test]
    fn create_refuses_ext4_then_succeeds_with_force() {
        let dir = tmpdir();
        let p = temp_file(&dir, "ext4.img", 64 * MIB);
        let st =
            Command::new("mkfs.ext4").args(["-q", "-F"]).arg(&p).status().expect("mkfs.ext4 runs");
        assert!(st.success());
        let e = create_md(&p, &MetaDisk::Internal, &opts()).unwrap_err();
        assert!(matches!(e, MetaError::Signature { offset: 1080, .. }), "{e}");
        assert!(e.to_string().contains("ext2/3/4 file system signature at byte 1080"), "{e}");
        let dev =
            create_md(&p, &MetaDisk::Internal, &CreateOptions { force: true, ..opts() }).unwrap();
        let (dev2, sb) = read_md(&p, &MetaDisk::Internal).unwrap();
        assert_eq!(dev.layout(), dev2.layout());
        assert_eq!(sb.uuids, Uuids::just_created());
        assert!(sb.flags.contains(MdFlags::AL_CLEAN));
        assert_eq!(sb.device_uuid, 0xabcd_ef01_2345_6789);
        assert_eq!(sb.device_size_sectors, dev.layout().usable_sectors);
        assert_eq!(dev2.read_bitmap(sb.device_size_sectors).unwrap().count_out_of_sync(), 0);
    }

    #[test]
    fn create_refuses_existing_metadata_and_swap() {
        let dir = tmpdir();
        let p = temp_file(&dir, "b.img", 16 * MIB);
        create_md(&p, &MetaDisk::Internal, &opts()).unwrap();
        let e = create_md(&p, &MetaDisk::Internal, &opts()).unwrap_err();
        assert!(matches!(e, MetaError::ExistingMetadata { what: "metadata", .. }), "{e}");
        create_md(&p, &MetaDisk::Internal, &CreateOptions { force: true, ..opts() }).unwrap();

        let s = temp_file(&dir, "swap.img", 16 * MIB);
        let st = Command::new("mkswap")
            .arg(&s)
            .stdout(std::process::Stdio::null())
            .status()
            .expect("mkswap runs");
        assert!(st.success());
        let e = create_md(&s, &MetaDisk::Internal, &opts()).unwrap_err();
        assert!(matches!(e, MetaError::Signature { what: "swap space", .. }), "{e}");

        let x = temp_file(&dir, "xfs.img", 16 * MIB);
        File::options().write(true).open(&x).unwrap().write_all_at(b"XFSB", 0).unwrap();
        let e = create_md(&x, &MetaDisk::Internal, &opts()).unwrap_err();
        assert!(
            matches!(e, MetaError::Signature { what: "XFS file system", offset: 0, .. }),
            "{e}"
        );

        // DRBD 8.4 metadata at the superblock position.
        let d = temp_file(&dir, "drbd.img", 16 * MIB);
        File::options()
            .write(true)
            .open(&d)
            .unwrap()
            .write_all_at(&0x8374_026bu32.to_be_bytes(), 16 * MIB - 4096 + 60)
            .unwrap();
        let e = create_md(&d, &MetaDisk::Internal, &opts()).unwrap_err();
        assert!(matches!(e, MetaError::ExistingMetadata { what: "DRBD 8.x metadata", .. }), "{e}");
    }

    #[test]
    fn too_small_names_the_bytes_needed() {
        let dir = tmpdir();
        let p = temp_file(&dir, "small.img", 512 * 1024);
        let e = create_md(&p, &MetaDisk::Internal, &opts()).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, MetaError::TooSmall { .. }));
        assert!(msg.contains("is 524288 bytes, needs at least 1089536 bytes"), "{msg}");
        let data = temp_file(&dir, "data.img", 64 * MIB);
        let meta = temp_file(&dir, "meta.img", 8 * 1024);
        let e = create_md(&data, &MetaDisk::External(meta), &opts()).unwrap_err();
        assert!(e.to_string().contains("meta device is 8192 bytes, needs at least"), "{e}");
    }

    #[test]
    fn read_md_errors_are_clear() {
        let dir = tmpdir();
        let p = temp_file(&dir, "empty.img", 16 * MIB);
        let e = read_md(&p, &MetaDisk::Internal).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains(&format!("superblock at byte {}", 16 * MIB - 4096))
                && msg.contains("bad magic"),
            "{msg}"
        );
        let missing = dir.path().join("missing.img");
        assert!(matches!(read_md(&missing, &MetaDisk::Internal), Err(MetaError::Open { .. })));
    }

    #[test]
    fn roundtrip_bitmap_superblock_and_al() {
        let dir = tmpdir();
        let p = temp_file(&dir, "rt.img", 300 * MIB);
        let dev = create_md(&p, &MetaDisk::Internal, &opts()).unwrap();
        let mut sb = dev.read_superblock().unwrap();
        let mut bm = dev.read_bitmap(sb.device_size_sectors).unwrap();
        assert!(bm.pages() >= 2);
        bm.set_out_of_sync(100..200);
        bm.set_out_of_sync(sb.device_size_sectors - 1..sb.device_size_sectors);
        assert_eq!(dev.write_dirty_bitmap(&mut bm).unwrap(), 2);
        assert_eq!(bm.dirty_page_count(), 0);
        sb.uuids.new_current(0x1111_2222_3333_4440, false);
        sb.flags.set(MdFlags::AL_CLEAN, false);
        sb.flags.set(MdFlags::CONSISTENT | MdFlags::WAS_UP_TO_DATE, true);
        dev.write_superblock(&sb).unwrap();

        let mut al = ActivityLog::new(sb.al, 0).unwrap();
        let mut buf = vec![0u8; AL_BLOCK_SIZE];
        for e in [3u64, 17, 40] {
            let r = e * SECTORS_PER_EXTENT..e * SECTORS_PER_EXTENT + 8;
            assert!(matches!(al.begin_io(r).unwrap(), AlBegin::AfterTransaction { .. }));
            let w = al.start_transaction(&mut buf).unwrap();
            dev.write_al_slot(w.ring_block, &buf).unwrap();
            al.transaction_durable(w.tr);
        }
        drop(dev);

        let (dev, mut sb2) = read_md(&p, &MetaDisk::Internal).unwrap();
        assert_eq!(sb2, sb);
        let bm2 = dev.read_bitmap(sb2.device_size_sectors).unwrap();
        assert_eq!(bm2.words(), bm.words());
        assert_eq!(bm2.count_out_of_sync(), 14);
        let rec = activity_log::recover(&sb2.al, &dev.read_al_ring().unwrap());
        assert_eq!(rec.extents, vec![3, 17, 40]);
        // apply-al folds the extents into the bitmap and marks the AL clean.
        let rec = dev.apply_al(&mut sb2).unwrap().expect("unclean");
        assert_eq!(rec.next_tr(), 3);
        let bm3 = dev.read_bitmap(sb2.device_size_sectors).unwrap();
        assert_eq!(bm3.count_out_of_sync(), 14 + 3 * 1024);
        let (_, sb3) = read_md(&p, &MetaDisk::Internal).unwrap();
        assert!(sb3.flags.contains(MdFlags::AL_CLEAN));
        assert_eq!(dev.apply_al(&mut sb2.clone()).unwrap(), None);
    }

    #[test]
    fn corruption_is_detected_and_names_the_block() {
        let dir = tmpdir();
        let p = temp_file(&dir, "c.img", 64 * MIB);
        let dev = create_md(&p, &MetaDisk::Internal, &opts()).unwrap();
        let l = *dev.layout();
        let f = File::options().read(true).write(true).open(&p).unwrap();
        let flip = |off: u64| {
            let mut b = [0u8; 1];
            f.read_exact_at(&mut b, off).unwrap();
            b[0] ^= 0x20;
            f.write_all_at(&b, off).unwrap();
        };
        flip(l.bm_page_offset(1) - 100); // inside bitmap page 0
        let sb = dev.read_superblock().unwrap();
        let e = dev.read_bitmap(sb.device_size_sectors).unwrap_err();
        assert!(
            matches!(
                e,
                MetaError::BitmapPage { page: 0, source: BitmapError::BadChecksum { .. }, .. }
            ),
            "{e}"
        );
        assert!(e.to_string().contains(&format!("bitmap page 0 at byte {}", l.bm_offset)), "{e}");
        flip(l.superblock_offset + 30);
        let e = read_md(&p, &MetaDisk::Internal).unwrap_err();
        assert!(
            matches!(e, MetaError::Superblock { source: SbError::BadChecksum { .. }, .. }),
            "{e}"
        );
        assert!(
            e.to_string().contains(&format!(
                "superblock at byte {}: checksum mismatch",
                l.superblock_offset
            )),
            "{e}"
        );
    }

    #[test]
    fn external_and_indexed_metadata() {
        let dir = tmpdir();
        let data = temp_file(&dir, "data.img", 64 * MIB);
        // An existing file system on the data device is fine with external metadata.
        let st = Command::new("mkfs.ext4")
            .args(["-q", "-F"])
            .arg(&data)
            .status()
            .expect("mkfs.ext4 runs");
        assert!(st.success());
        let meta = temp_file(&dir, "meta.img", MIB);
        let md = MetaDisk::External(meta.clone());
        let dev = create_md(&data, &md, &opts()).unwrap();
        assert_eq!(dev.layout().usable_sectors, 64 * MIB / 512);
        assert_eq!(dev.path(), meta.as_path());
        let (_, sb) = read_md(&data, &md).unwrap();
        assert_eq!(sb.meta_index, -2);
        // Reading it back as internal metadata finds nothing.
        assert!(matches!(read_md(&data, &MetaDisk::Internal), Err(MetaError::Superblock { .. })));

        let slots = temp_file(&dir, "slots.img", 2 * super::super::layout::INDEXED_SLOT_BYTES);
        let md1 = MetaDisk::Indexed(slots.clone(), 1);
        create_md(&data, &md1, &opts()).unwrap();
        let (dev, sb) = read_md(&data, &md1).unwrap();
        assert_eq!(sb.meta_index, 1);
        assert_eq!(dev.layout().superblock_offset, super::super::layout::INDEXED_SLOT_BYTES);
        let md0 = MetaDisk::Indexed(slots, 0);
        assert!(matches!(
            read_md(&data, &md0),
            Err(MetaError::Superblock { source: SbError::BadMagic { .. }, .. })
        ));
    }

    /// Remove a loop device when the test ends, also on failure.
    struct LoopGuard(String);
    impl Drop for LoopGuard {
        fn drop(&mut self) {
            let _ = Command::new("losetup").arg("-d").arg(&self.0).status();
        }
    }

    #[test]
    fn create_and_read_on_a_loop_device() {
        let is_root =
            Command::new("id").arg("-u").output().map(|o| o.stdout == b"0\n").unwrap_or(false);
        if !is_root || !Path::new("/dev/loop-control").exists() {
            eprintln!("skipped: needs root and loop devices");
            return;
        }
        let dir = tmpdir();
        let img = temp_file(&dir, "loop.img", 32 * MIB);
        let out = Command::new("losetup")
            .args(["-f", "--show"])
            .arg(&img)
            .output()
            .expect("losetup runs");
        assert!(out.status.success(), "losetup: {}", String::from_utf8_lossy(&out.stderr));
        let loopdev = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        let _guard = LoopGuard(loopdev.clone());
        // The minor may still carry a read-only flag (BLKROSET) from an earlier user that was
        // killed: it survives a detach.
        let _ = Command::new("blockdev").args(["--setrw", &loopdev]).status();
        let p = PathBuf::from(&loopdev);
        let dev = create_md(&p, &MetaDisk::Internal, &opts()).unwrap();
        assert_eq!(dev.layout().superblock_offset, 32 * MIB - 4096);
        let (dev2, sb) = read_md(&p, &MetaDisk::Internal).unwrap();
        assert_eq!(sb.uuids, Uuids::just_created());
        let mut bm = dev2.read_bitmap(sb.device_size_sectors).unwrap();
        bm.set_all();
        dev2.write_dirty_bitmap(&mut bm).unwrap();
        assert_eq!(
            dev2.read_bitmap(sb.device_size_sectors).unwrap().count_out_of_sync(),
            bm.blocks()
        );
        assert!(matches!(
            create_md(&p, &MetaDisk::Internal, &opts()),
            Err(MetaError::ExistingMetadata { .. })
        ));
    }
}
