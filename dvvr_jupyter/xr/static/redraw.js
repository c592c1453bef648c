// redraw.js: "something on screen changed": the desktop draws a frame only then.

let changed = true;

export function markChanged() { changed = true; }

export function takeChanged() {
  const was = changed;
  changed = false;
  return was;
}
