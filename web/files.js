// Files the user gives the page: a picked folder (webkitdirectory), picked files, or a drop of
// either (folders are walked). Each file gets its path inside the model folder, so
// `tiny/config.json` becomes `config.json` and a subfolder's files keep their subfolder.

// A name for loose files: a lone file's name without its extension (`model.gguf` → `model`).
function looseName(files) {
  return files.length === 1 ? files[0].name.replace(/\.[^.]*$/, '') : 'model';
}

// [{name, file}] from an <input type=file> (folder or files), plus the folder's name.
export function fromInput(input) {
  const files = [...input.files];
  const folder = files[0]?.webkitRelativePath?.split('/')[0] || '';
  return {
    folder: folder || looseName(files),
    entries: files.map((file) => ({
      name: file.webkitRelativePath ? file.webkitRelativePath.split('/').slice(1).join('/') : file.name,
      file,
    })),
  };
}

function readAll(reader) {
  return new Promise((resolve, reject) => {
    const out = [];
    const next = () => reader.readEntries((batch) => {
      if (batch.length === 0) resolve(out);
      else { out.push(...batch); next(); }
    }, reject);
    next();
  });
}

async function walk(entry, prefix, out) {
  if (entry.isFile) {
    const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
    out.push({ name: prefix + entry.name, file });
  } else if (entry.isDirectory) {
    for (const child of await readAll(entry.createReader())) {
      await walk(child, `${prefix}${entry.name}/`, out);
    }
  }
}

// [{name, file}] from a drop: one dropped folder is the model folder; loose files are its files.
export async function fromDrop(dataTransfer) {
  const items = [...dataTransfer.items].filter((i) => i.kind === 'file');
  const entries = items.map((i) => i.webkitGetAsEntry?.()).filter(Boolean);
  if (entries.length === 1 && entries[0].isDirectory) {
    const out = [];
    for (const child of await readAll(entries[0].createReader())) await walk(child, '', out);
    return { folder: entries[0].name, entries: out };
  }
  const files = [...dataTransfer.files];
  return { folder: looseName(files), entries: files.map((file) => ({ name: file.name, file })) };
}

// Makes `zone` accept drops (and highlight while dragging); `onDrop(dataTransfer)`.
export function dropZone(zone, onDrop) {
  zone.addEventListener('dragover', (e) => { e.preventDefault(); zone.classList.add('over'); });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    onDrop(e.dataTransfer);
  });
}

// Offers `blob` as a download called `name` (an object URL: nothing leaves the machine).
export function save(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
