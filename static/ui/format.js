// format.js: how sizes, dates, durations and types read in the UI.

const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];

// formatSize gives decimal units: 999 B, 1.2 kB, 267 kB, 4.7 GB.
export function formatSize(n) {
  if (typeof n !== 'number' || !isFinite(n) || n < 0) return '';
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  const digits = i === 0 || n >= 100 ? 0 : n >= 10 ? 1 : 1;
  return n.toFixed(digits).replace(/\.0$/, '') + ' ' + units[i];
}

const dateFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const dayFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' });

export function parseDate(s) {
  if (!s) return null;
  const d = new Date(s);
  return isNaN(d.getTime()) ? null : d;
}

export function formatDate(d, withTime = true) {
  if (!d) return '';
  return (withTime ? dateFmt : dayFmt).format(d);
}

// formatRelative says "in 24 hours", "in 7 days" for an expiry.
export function formatRelative(d) {
  const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
  const s = (d.getTime() - Date.now()) / 1000;
  const abs = Math.abs(s);
  if (abs < 90) return rtf.format(Math.round(s), 'second');
  if (abs < 90 * 60) return rtf.format(Math.round(s / 60), 'minute');
  if (abs < 48 * 3600) return rtf.format(Math.round(s / 3600), 'hour');
  return rtf.format(Math.round(s / 86400), 'day');
}

// formatTime gives m:ss or h:mm:ss.
export function formatTime(sec) {
  if (!isFinite(sec) || sec < 0) sec = 0;
  sec = Math.floor(sec);
  const h = Math.floor(sec / 3600), m = Math.floor(sec / 60) % 60, s = sec % 60;
  const ss = String(s).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

const byExt = {
  mp4: 'video/mp4', m4v: 'video/mp4', mov: 'video/quicktime', webm: 'video/webm', mkv: 'video/x-matroska',
  ogv: 'video/ogg', avi: 'video/x-msvideo', ts: 'video/mp2t', m3u8: 'application/vnd.apple.mpegurl',
  mp3: 'audio/mpeg', m4a: 'audio/mp4', aac: 'audio/aac', wav: 'audio/wav', flac: 'audio/flac',
  ogg: 'audio/ogg', oga: 'audio/ogg', opus: 'audio/ogg',
  png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg', gif: 'image/gif', webp: 'image/webp',
  avif: 'image/avif', svg: 'image/svg+xml', bmp: 'image/bmp', ico: 'image/x-icon',
  txt: 'text/plain', md: 'text/markdown', csv: 'text/csv', log: 'text/plain', vtt: 'text/vtt',
  srt: 'text/plain', json: 'application/json', xml: 'application/xml', yaml: 'text/yaml', yml: 'text/yaml',
  toml: 'text/plain', ini: 'text/plain', html: 'text/html', css: 'text/css', js: 'text/javascript',
  go: 'text/plain', py: 'text/plain', sh: 'text/plain', c: 'text/plain', h: 'text/plain', rs: 'text/plain',
  pdf: 'application/pdf', zip: 'application/zip', gz: 'application/gzip', tar: 'application/x-tar',
};

export function ext(name) {
  const i = name.lastIndexOf('.');
  return i > 0 ? name.slice(i + 1).toLowerCase() : '';
}

// typeOf is the entry's MIME type: the server's, else by extension.
export function typeOf(name, type) {
  const t = (type || '').split(';')[0].trim().toLowerCase();
  if (t && t !== 'application/octet-stream') return t;
  return byExt[ext(name)] || t || '';
}

const textApps = new Set(['application/json', 'application/xml', 'application/yaml', 'application/javascript', 'application/x-sh', 'application/toml']);

// kindOf decides how the UI shows a file: video, audio, image, text or file.
export function kindOf(name, type) {
  const t = typeOf(name, type);
  const e = ext(name);
  if (e === 'vtt') return 'text';
  if (t.startsWith('video/') && t !== 'video/mp2t') return 'video';
  if (t.startsWith('audio/')) return 'audio';
  if (t.startsWith('image/')) return 'image';
  if (t.startsWith('text/') || textApps.has(t) || t.endsWith('+json') || t.endsWith('+xml')) return 'text';
  return 'file';
}

const names = {
  'audio/mpeg': 'MP3 audio', 'audio/mp4': 'M4A audio', 'audio/ogg': 'Ogg audio', 'audio/opus': 'Opus audio',
  'video/quicktime': 'QuickTime video', 'video/x-matroska': 'Matroska video', 'image/jpeg': 'JPEG image',
  'image/svg+xml': 'SVG image', 'text/plain': 'Plain text', 'text/markdown': 'Markdown', 'text/vtt': 'WebVTT subtitles',
  'text/csv': 'CSV', 'text/html': 'HTML', 'application/json': 'JSON', 'application/pdf': 'PDF document',
  'application/zip': 'ZIP archive', 'application/gzip': 'Gzip archive', 'application/x-tar': 'Tar archive',
  'application/xml': 'XML', 'text/yaml': 'YAML',
};

// describeType is a short human name: "MP4 video", "PNG image".
export function describeType(name, type) {
  const t = typeOf(name, type);
  if (names[t]) return names[t];
  const [major, sub = ''] = t.split('/');
  const short = sub.replace(/^x-/, '').replace(/\+.*$/, '').toUpperCase();
  if (['video', 'audio', 'image'].includes(major) && short) return short + ' ' + major;
  if (major === 'text') return 'Text';
  const e = ext(name);
  return e ? e.toUpperCase() + ' file' : 'File';
}

// iconFor picks the sprite symbol for an entry.
export function iconFor(entry) {
  if (entry.dir) return entry.mount ? 'server' : 'folder';
  if (ext(entry.name) === 'vtt') return 'subtitles';
  const k = kindOf(entry.name, entry.type);
  if (k === 'file') {
    const t = typeOf(entry.name, entry.type);
    if (/zip|gzip|tar|compress|7z|rar/.test(t)) return 'archive';
  }
  return { video: 'video', audio: 'audio', image: 'image', text: 'text' }[k] || 'file';
}
