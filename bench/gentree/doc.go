// Command gentree writes the folder bench/stream.sh archives as one ZIP: many
// small files in subfolders plus a few large ones, all of random bytes
// (ChaCha8 from a fixed seed, so nothing compresses and every run writes
// the same tree), and the same bytes concatenated into one file, the plain
// download the archive is compared with.
//
// Usage:
//
//	gentree -dir DIR -concat FILE [-folders 100] [-per-folder 100]
//	        [-small-max 65536] [-large 8] [-large-size 234881024] [-seed 1]
//
// DIR gets folders d000 … d099 of files f000.bin … f099.bin whose sizes
// are uniform in [1, small-max] bytes, and large-0.bin … large-7.bin of
// large-size bytes at its top. gentree prints the file count and the total
// size in bytes, and refuses a DIR that exists.
package main
