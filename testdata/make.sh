#!/usr/bin/env bash
# Regenerates rangeserve's media fixtures in this directory from ffmpeg's
# built-in sources (lavfi testsrc2 and sine): nothing is downloaded.
#
#   bash testdata/make.sh        # from the repository root, or
#   ./make.sh                    # from testdata/
#
# Needs ffmpeg with libx264, aac, libvpx-vp9, libopus and libmp3lame
# (Debian's `ffmpeg` package). The bitexact flags and -map_metadata -1 keep
# encoder versions and dates out of the files, so the same ffmpeg build gives
# the same bytes; another ffmpeg/x264 build may give different bytes, in which
# case update the sha256 table in README.md (run this script; it prints it).
set -euo pipefail
cd "$(dirname "$0")"

ff=(ffmpeg -hide_banner -loglevel error -y -nostdin)
# Keep container/encoder tags and dates out of the output.
det=(-map_metadata -1 -fflags +bitexact -flags:v +bitexact -flags:a +bitexact)

# video.mp4: 10 s H.264 (constrained baseline, yuv420p) + AAC, moov before mdat.
"${ff[@]}" \
	-f lavfi -i "testsrc2=size=320x180:rate=25:duration=10" \
	-f lavfi -i "sine=frequency=440:sample_rate=44100:duration=10" \
	-c:v libx264 -profile:v baseline -level 3.0 -pix_fmt yuv420p -preset medium -crf 30 \
	-g 50 -threads 1 -x264-params "threads=1" \
	-c:a aac -b:a 64k -ac 2 \
	-shortest -movflags +faststart "${det[@]}" video.mp4

# moov-at-end.mp4: 5 s H.264 + AAC written WITHOUT -movflags +faststart, so
# the moov atom follows the media data (atoms: ftyp, free, mdat, moov), as
# phones and screen recorders write it: the virtual faststart fixture.
"${ff[@]}" \
	-f lavfi -i "testsrc2=size=320x180:rate=25:duration=5" \
	-f lavfi -i "sine=frequency=440:sample_rate=44100:duration=5" \
	-c:v libx264 -profile:v baseline -level 3.0 -pix_fmt yuv420p -preset medium -crf 30 \
	-g 50 -threads 1 -x264-params "threads=1" \
	-c:a aac -b:a 64k -ac 2 \
	-shortest "${det[@]}" moov-at-end.mp4

# A second, 2 s clip with a non-ASCII name (accented letter, a character
# outside the BMP that needs 4 UTF-8 bytes, and spaces).
"${ff[@]}" \
	-f lavfi -i "testsrc2=size=160x90:rate=25:duration=2" \
	-f lavfi -i "sine=frequency=660:sample_rate=44100:duration=2" \
	-c:v libx264 -profile:v baseline -level 3.0 -pix_fmt yuv420p -preset medium -crf 32 \
	-g 50 -threads 1 -x264-params "threads=1" \
	-c:a aac -b:a 48k -ac 2 \
	-shortest -movflags +faststart "${det[@]}" "vidéo 𝄞 test.mp4"

# video.webm: 5 s VP9 + Opus.
"${ff[@]}" \
	-f lavfi -i "testsrc2=size=320x180:rate=25:duration=5" \
	-f lavfi -i "sine=frequency=440:sample_rate=48000:duration=5" \
	-c:v libvpx-vp9 -b:v 0 -crf 40 -deadline good -cpu-used 4 -row-mt 0 -threads 1 -g 50 \
	-pix_fmt yuv420p \
	-c:a libopus -b:a 48k \
	-shortest "${det[@]}" video.webm

# audio.mp3: 5 s 440 Hz sine, mono, 64 kb/s CBR, no ID3 tag.
"${ff[@]}" \
	-f lavfi -i "sine=frequency=440:sample_rate=44100:duration=5" \
	-c:a libmp3lame -b:a 64k -ac 1 -write_xing 0 -id3v2_version 0 -write_id3v1 0 \
	"${det[@]}" audio.mp3

# audio.opus: 5 s 440 Hz sine in Ogg/Opus.
"${ff[@]}" \
	-f lavfi -i "sine=frequency=440:sample_rate=48000:duration=5" \
	-c:a libopus -b:a 32k -ac 1 \
	"${det[@]}" audio.opus

# image.png: the first frame of testsrc2.
"${ff[@]}" \
	-f lavfi -i "testsrc2=size=320x180:rate=1:duration=1" \
	-frames:v 1 -fflags +bitexact -flags:v +bitexact -map_metadata -1 image.png

# Plain-text files, written byte for byte.
printf 'Hello from rangeserve.\nGrüße, こんにちは, привет, 🎬\nThis file is UTF-8 text for range and content-type tests.\n' >hello.txt
mkdir -p docs
printf 'A small file in a subdirectory, for listing tests.\n' >docs/notes.txt
# A hidden file that the server must never serve.
printf 'secret\n' >.hidden.txt

# Print the table used in README.md.
printf '\n| file | bytes | sha256 |\n| --- | ---: | --- |\n'
find . -type f ! -name make.sh ! -name README.md ! -path './fuzz/*' -printf '%P\n' | LC_ALL=C sort |
	while IFS= read -r f; do
		printf '| `%s` | %s | `%s` |\n' "$f" "$(stat -c %s "$f")" "$(sha256sum "$f" | cut -d' ' -f1)"
	done
