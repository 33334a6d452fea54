package s3

import (
	"testing"

	"github.com/minio/minio-go/v7"
)

// TestFullObjectCRC32 checks which checksum headers count as the CRC-32
// of the object's bytes: only a CRC32 value of 4 bytes whose type is
// FULL_OBJECT or not stated, with no multipart part count.
func TestFullObjectCRC32(t *testing.T) {
	tests := []struct {
		name      string
		crc, mode string
		want      uint32
		ok        bool
	}{
		{"full object", "sxxlKA==", "FULL_OBJECT", 0xb31c6528, true},
		{"no type (single PUT, older store)", "sxxlKA==", "", 0xb31c6528, true},
		{"type in lower case", "sxxlKA==", "full_object", 0xb31c6528, true},
		{"zero", "AAAAAA==", "FULL_OBJECT", 0, true},
		{"composite", "ZnaAxg==-3", "COMPOSITE", 0, false},
		{"composite type, no part count", "ZnaAxg==", "COMPOSITE", 0, false},
		{"part count, no type", "ZnaAxg==-3", "", 0, false},
		{"part count, full-object type", "ZnaAxg==-3", "FULL_OBJECT", 0, false},
		{"unknown type", "sxxlKA==", "SOMETHING", 0, false},
		{"missing", "", "FULL_OBJECT", 0, false},
		{"not base64", "sxx!KA==", "FULL_OBJECT", 0, false},
		{"unpadded", "sxxlKA", "FULL_OBJECT", 0, false},
		{"3 bytes", "sxxl", "FULL_OBJECT", 0, false},
		{"8 bytes (a CRC64 value)", "AAAAAAAAAAA=", "FULL_OBJECT", 0, false},
		{"non-zero padding bits", "sxxlKB==", "FULL_OBJECT", 0, false},
	}
	for _, tt := range tests {
		crc, ok := fullObjectCRC32(minio.ObjectInfo{ChecksumCRC32: tt.crc, ChecksumMode: tt.mode})
		if crc != tt.want || ok != tt.ok {
			t.Errorf("%s: fullObjectCRC32(%q, %q) = %08x, %v; want %08x, %v", tt.name, tt.crc, tt.mode, crc, ok, tt.want, tt.ok)
		}
	}
	// Other algorithms' fields are not looked at.
	other := minio.ObjectInfo{
		ChecksumCRC32C: "sxxlKA==", ChecksumCRC64NVME: "AAAAAAAAAAA=", ChecksumSHA256: "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
		ChecksumMode: "FULL_OBJECT",
	}
	if crc, ok := fullObjectCRC32(other); ok {
		t.Errorf("no CRC32 field, other algorithms set: fullObjectCRC32 = %08x, true", crc)
	}
}
