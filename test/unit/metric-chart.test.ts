import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createCanvas, loadImage } from '@napi-rs/canvas';
import pixelmatch from 'pixelmatch';
import { describe, expect, it } from 'vitest';
import { renderMetricChart, type MetricChartInput } from '../../src/slack/metric-chart.js';

const T0 = Date.UTC(2026, 11, 5, 12, 0, 0);
const MINUTE = 60_000;

/** An hour of CPU that climbs over 90 for the last twenty minutes, per minute, two instances. */
function firingInput(): MetricChartInput {
  const series = ['wordpress', 'wordpress-2'].map((label, index) => ({
    label,
    points: Array.from({ length: 61 }, (_, minute) => ({ at: T0 + minute * MINUTE, value: 40 + index * 5 + (minute > 40 ? 55 : (minute % 7) * 2) })),
  }));
  return { title: 'High CPU Utilization (FIRING)', subtitle: 'CpuUtilization[1m].mean()', series, from: T0, to: T0 + 60 * MINUTE, threshold: { operator: '>', value: 90 }, firing: { from: T0 + 41 * MINUTE }, state: 'FIRING' };
}

async function pixels(png: Buffer): Promise<{ width: number; height: number; data: Uint8ClampedArray }> {
  const image = await loadImage(png);
  const canvas = createCanvas(image.width, image.height);
  const context = canvas.getContext('2d');
  context.drawImage(image, 0, 0);
  const data = context.getImageData(0, 0, image.width, image.height).data;
  return { width: image.width, height: image.height, data };
}

function isReddish(data: Uint8ClampedArray, width: number, x: number, y: number): boolean {
  const i = (y * width + x) * 4;
  return (data[i] ?? 0) > 150 && (data[i + 1] ?? 255) < 120 && (data[i + 2] ?? 255) < 120;
}

describe('metric chart renderer (series → PNG)', () => {
  it('renders a PNG of the requested size', async () => {
    const png = await renderMetricChart({ ...firingInput(), width: 600, height: 300 });
    expect(png.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
    const image = await pixels(png);
    expect([image.width, image.height]).toEqual([600, 300]);
  });

  it('is deterministic: the same series give the same bytes', async () => {
    expect((await renderMetricChart(firingInput())).equals(await renderMetricChart(firingInput()))).toBe(true);
  });

  it('draws the threshold as a red line across the plot', async () => {
    const image = await pixels(await renderMetricChart(firingInput()));
    // Some row of the plot has a long red run: the dashed threshold line.
    let longest = 0;
    for (let y = 0; y < image.height; y++) {
      let red = 0;
      for (let x = 0; x < image.width; x++) if (isReddish(image.data, image.width, x, y)) red++;
      longest = Math.max(longest, red);
    }
    expect(longest).toBeGreaterThan(image.width / 3);
    const without = await pixels(await renderMetricChart({ ...firingInput(), threshold: undefined, firing: undefined }));
    let redWithout = 0;
    for (let y = 0; y < without.height; y++) for (let x = 0; x < without.width; x++) if (isReddish(without.data, without.width, x, y)) redWithout++;
    expect(redWithout).toBeLessThan(longest);
  });

  it('shades the firing window red while firing and green once recovered', async () => {
    const firing = await pixels(await renderMetricChart(firingInput()));
    const recovered = await pixels(await renderMetricChart({ ...firingInput(), state: 'OK', firing: { from: T0 + 41 * MINUTE, to: T0 + 55 * MINUTE } }));
    // A point inside the window, below the lines: pinkish when firing, greenish when recovered.
    const x = Math.round(firing.width * 0.8);
    const y = Math.round(firing.height * 0.65);
    const at = (image: typeof firing) => Array.from(image.data.subarray((y * image.width + x) * 4, (y * image.width + x) * 4 + 3));
    const [r1, g1] = at(firing);
    const [r2, g2] = at(recovered);
    expect(r1).toBeGreaterThan(g1 ?? 0);
    expect(g2).toBeGreaterThan(r2 ?? 0);
  });

  it('draws an empty chart (no data in the window) without failing', async () => {
    const image = await pixels(await renderMetricChart({ ...firingInput(), series: [] }));
    expect(image.width).toBe(900);
  });

  it('matches the golden image within a pixel tolerance', async () => {
    const golden = new URL('../fixtures/charts/alarm-firing.png', import.meta.url);
    const png = await renderMetricChart(firingInput());
    if (process.env.UPDATE_GOLDEN === '1' || !existsSync(golden)) {
      // Written once, reviewed by eye, committed; CI never writes it (the file exists there).
      if (process.env.CI) throw new Error('golden image missing');
      writeFileSync(golden, png);
    }
    const expected = await pixels(readFileSync(golden));
    const actual = await pixels(png);
    expect([actual.width, actual.height]).toEqual([expected.width, expected.height]);
    const diff = pixelmatch(expected.data, actual.data, undefined, actual.width, actual.height, { threshold: 0.1 });
    // Anti-aliasing and font hinting may differ a little between Skia builds: at most 0.5 % of pixels.
    expect(diff).toBeLessThan(actual.width * actual.height * 0.005);
  });
});
