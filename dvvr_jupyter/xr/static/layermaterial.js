// layermaterial.js: one layer's channels drawn from one atlas texture in one
// draw call. Grayscale atlases are coloured as the VR client does: blue below
// the layer's zero value, white at it, red above; RGB atlases (feature
// visualizations) are shown as they are. Gaps between tiles and unused tiles
// of the last row are cut out here, so the atlas needs no padding.

import * as THREE from "three";

const vertexShader = /* glsl */ `
varying vec2 vUv;
void main() {
  vUv = uv;
  gl_Position = projectionMatrix * modelViewMatrix * vec4(position, 1.0);
}`;

const fragmentShader = /* glsl */ `
uniform sampler2D atlas;
uniform float zero, cols, rows, channels, gap, loaded, rgb, selected;
varying vec2 vUv;
void main() {
  vec2 cell = vec2(vUv.x * cols, (1.0 - vUv.y) * rows);
  vec2 index = floor(cell), inside = fract(cell);
  float tile = index.y * cols + index.x;
  if (tile >= channels || any(lessThan(inside, vec2(gap * 0.5))) || any(greaterThan(inside, vec2(1.0 - gap * 0.5)))) discard;
  if (loaded < 0.5) { gl_FragColor = vec4(0.22, 0.24, 0.28, 1.0); return; }
  vec4 texel = texture2D(atlas, vec2(vUv.x, 1.0 - vUv.y));
  vec3 colour;
  if (rgb > 0.5) {
    colour = texel.rgb;
  } else {
    float g = texel.r;
    float below = clamp((zero - g) / max(zero, 1.0 / 255.0), 0.0, 1.0);
    float above = clamp((g - zero) / max(1.0 - zero, 1.0 / 255.0), 0.0, 1.0);
    colour = vec3(1.0 - below, (1.0 - below) * (1.0 - above), 1.0 - above);
  }
  // the selected channel: a yellow rim
  if (tile == selected && any(lessThan(inside, vec2(gap * 0.5 + 0.06))) || tile == selected && any(greaterThan(inside, vec2(1.0 - gap * 0.5 - 0.06)))) colour = vec3(1.0, 0.85, 0.1);
  gl_FragColor = vec4(colour, 1.0);
}`;

export function layerMaterial(layer, gap) {
  return new THREE.ShaderMaterial({
    vertexShader,
    fragmentShader,
    side: THREE.DoubleSide,
    uniforms: {
      atlas: { value: null }, zero: { value: 0.5 }, cols: { value: layer.cols }, rows: { value: layer.rows },
      channels: { value: layer.channels }, gap: { value: gap }, loaded: { value: 0 }, rgb: { value: 0 },
      selected: { value: -1 },
    },
  });
}

// A grayscale ImageBitmap/canvas as a one-byte-per-pixel texture (a quarter of RGBA's memory):
// WebGL 2 keeps the red channel of the image as it uploads it, so no pixels are read back here.
export function grayTexture(pixels) {
  const texture = new THREE.Texture(pixels);
  texture.format = THREE.RedFormat;
  texture.internalFormat = "R8";
  texture.type = THREE.UnsignedByteType;
  setupTexture(texture);
  texture.bytes = pixels.width * pixels.height;
  texture.addEventListener("dispose", () => pixels.close?.());
  return texture;
}

// An RGB canvas (feature visualizations) as a texture, shown as it is.
export function rgbTexture(canvas) {
  const texture = new THREE.CanvasTexture(canvas);
  setupTexture(texture);
  texture.bytes = canvas.width * canvas.height * 4;
  return texture;
}

function setupTexture(texture) {
  texture.magFilter = THREE.NearestFilter; // channel pixels stay crisp, as in the VR client
  texture.minFilter = THREE.LinearFilter;
  texture.generateMipmaps = false;
  texture.unpackAlignment = 1;
  texture.flipY = false;
  texture.needsUpdate = true;
}
