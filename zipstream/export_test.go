package zipstream

// CRC32Combine exposes crc32Combine to the tests.
var CRC32Combine = crc32Combine
