package zipstream

import "encoding/binary"

// The byte encoders of the records; each appends one record to b.

func le16(b []byte, v uint16) []byte { return binary.LittleEndian.AppendUint16(b, v) }
func le32(b []byte, v uint32) []byte { return binary.LittleEndian.AppendUint32(b, v) }
func le64(b []byte, v uint64) []byte { return binary.LittleEndian.AppendUint64(b, v) }

// flags returns the general purpose bit flags of entry i.
func (a *Archive) flags(i int) uint16 {
	var f uint16
	r := &a.recs[i]
	if r.flags&fDir == 0 {
		f |= flagDescriptor
	}
	if r.flags&fUTF8 != 0 {
		f |= flagUTF8
	}
	return f
}

// appendTimeExtra appends entry i's extended timestamp, if it has one:
// the same 9 bytes in the local header and the central directory.
func (a *Archive) appendTimeExtra(b []byte, i int) []byte {
	r := &a.recs[i]
	if r.flags&fTime == 0 {
		return b
	}
	b = le16(b, extTimeID)
	b = le16(b, 5)
	b = append(b, extTimeModified)
	return le32(b, r.mtime)
}

// appendLocal appends entry i's local file header. CRC-32 and sizes are
// zero (they follow the data, flag bit 3); a ZIP64 entry has 0xFFFFFFFF
// sizes and a ZIP64 extra field with zero sizes, announcing a 24-byte
// descriptor (APPNOTE 4.3.9). A folder has no descriptor: its zeros are
// its true CRC-32 and sizes.
func (a *Archive) appendLocal(b []byte, i int) []byte {
	r := &a.recs[i]
	name := a.nameBytes(i)
	zip64 := r.flags&fZip64 != 0
	extra := 0
	if r.flags&fTime != 0 {
		extra += timeExtraLen
	}
	version := uint16(versionNeeded)
	if zip64 {
		extra += local64ExtraLen
		version = versionNeeded64
	}
	b = le32(b, sigLocal)
	b = le16(b, version)
	b = le16(b, a.flags(i))
	b = le16(b, 0) // stored
	b = le16(b, r.dosTime)
	b = le16(b, r.dosDate)
	b = le32(b, 0) // CRC-32: in the descriptor
	if zip64 {
		b = le32(b, max32)
		b = le32(b, max32)
	} else {
		b = le32(b, 0)
		b = le32(b, 0)
	}
	b = le16(b, uint16(len(name)))
	b = le16(b, uint16(extra))
	b = append(b, name...)
	b = a.appendTimeExtra(b, i)
	if zip64 {
		b = le16(b, zip64ID)
		b = le16(b, 16)
		b = le64(b, 0)
		b = le64(b, 0)
	}
	return b
}

// appendDescriptor appends the data descriptor of file entry i.
func (a *Archive) appendDescriptor(b []byte, i int, crc uint32) []byte {
	r := &a.recs[i]
	b = le32(b, sigDescriptor)
	b = le32(b, crc)
	if r.flags&fZip64 != 0 {
		b = le64(b, uint64(r.size))
		return le64(b, uint64(r.size))
	}
	b = le32(b, uint32(r.size))
	return le32(b, uint32(r.size))
}

// appendCentral appends entry i's central directory record. When the size
// or the header's offset does not fit in 32 bits, all three fields are
// 0xFFFFFFFF and a ZIP64 extra field holds them.
func (a *Archive) appendCentral(b []byte, i int, crc uint32) []byte {
	r := &a.recs[i]
	name := a.nameBytes(i)
	zip64 := a.central64(i)
	extra := 0
	if r.flags&fTime != 0 {
		extra += timeExtraLen
	}
	if zip64 {
		extra += cdir64ExtraLen
	}
	version := uint16(versionNeeded)
	if r.flags&fZip64 != 0 {
		version = versionNeeded64
	}
	attrs := uint32(modeFile) << 16
	if r.flags&fDir != 0 {
		attrs = uint32(modeDir)<<16 | msdosDir
	}
	b = le32(b, sigCentral)
	b = le16(b, versionMadeBy)
	b = le16(b, version)
	b = le16(b, a.flags(i))
	b = le16(b, 0) // stored
	b = le16(b, r.dosTime)
	b = le16(b, r.dosDate)
	b = le32(b, crc)
	if zip64 {
		b = le32(b, max32)
		b = le32(b, max32)
	} else {
		b = le32(b, uint32(r.size))
		b = le32(b, uint32(r.size))
	}
	b = le16(b, uint16(len(name)))
	b = le16(b, uint16(extra))
	b = le16(b, 0) // comment length
	b = le16(b, 0) // disk number start
	b = le16(b, 0) // internal attributes
	b = le32(b, attrs)
	if zip64 {
		b = le32(b, max32)
	} else {
		b = le32(b, uint32(r.off))
	}
	b = append(b, name...)
	b = a.appendTimeExtra(b, i)
	if zip64 {
		b = le16(b, zip64ID)
		b = le16(b, 24)
		b = le64(b, uint64(r.size))
		b = le64(b, uint64(r.size))
		b = le64(b, uint64(r.off))
	}
	return b
}

// appendEnd appends the end records: the ZIP64 end of central directory
// record and its locator when needed, then the classic end record.
func (a *Archive) appendEnd(b []byte) []byte {
	n := uint64(len(a.recs))
	size, off := uint64(a.cdSize), uint64(a.cdOff)
	if a.end64() {
		end64 := off + size
		b = le32(b, sigEnd64)
		b = le64(b, end64Len-12) // the record's size after this field
		b = le16(b, versionMadeBy)
		b = le16(b, versionNeeded64)
		b = le32(b, 0) // this disk
		b = le32(b, 0) // disk of the central directory
		b = le64(b, n)
		b = le64(b, n)
		b = le64(b, size)
		b = le64(b, off)

		b = le32(b, sigLocator64)
		b = le32(b, 0) // disk of the ZIP64 end record
		b = le64(b, end64)
		b = le32(b, 1) // total disks
		n, size, off = min(n, max16), min(size, max32), min(off, max32)
	}
	b = le32(b, sigEnd)
	b = le16(b, 0) // this disk
	b = le16(b, 0) // disk of the central directory
	b = le16(b, uint16(n))
	b = le16(b, uint16(n))
	b = le32(b, uint32(size))
	b = le32(b, uint32(off))
	return le16(b, 0) // comment length
}
