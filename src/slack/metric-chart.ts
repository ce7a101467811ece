import type { createCanvas, SKRSContext2D } from '@napi-rs/canvas';
import type { Chart, Plugin } from 'chart.js';
import { fileURLToPath } from 'node:url';

/**
 * The alarm chart: a metric's series over a time window drawn as a PNG, with the alarm's trigger
 * threshold as a dashed line and the firing window shaded. A pure function of its input (no clock, no
 * I/O after the font is registered): the same series always give the same picture, which the
 * golden-image test relies on. Chart.js draws on a Skia canvas (@napi-rs/canvas): no browser, no native
 * build. The font ships with the bot (the container image has none).
 *
 * Both are loaded at the first chart, not with this module: together they cost the bot ~16 MB resident
 * (Skia's native library, the system fonts it maps as it loads, Chart.js), and most processes never
 * draw a chart.
 */

export interface MetricPoint {
  /** Epoch milliseconds. */
  at: number;
  value: number;
}

export interface MetricSeries {
  label: string;
  points: MetricPoint[];
}

export interface MetricChartInput {
  title: string;
  /** Shown under the title, e.g. the query. */
  subtitle?: string;
  series: MetricSeries[];
  /** The window drawn, epoch ms. */
  from: number;
  to: number;
  /** The alarm's trigger rule, e.g. `> 90`. */
  threshold?: { operator: string; value: number };
  /** The firing episode; open-ended while it still fires. */
  firing?: { from: number; to?: number };
  /** FIRING draws the window red, OK (recovered) green. */
  state: 'FIRING' | 'OK';
  width?: number;
  height?: number;
}

const FONT_FAMILY = 'MlopsChartSans';
const COLORS = ['#1f6feb', '#8250df', '#bf8700', '#1a7f37', '#cf222e'];
const FIRING_FILL = 'rgba(207, 34, 46, 0.12)';
const RECOVERED_FILL = 'rgba(26, 127, 55, 0.12)';
const THRESHOLD_COLOR = '#cf222e';

interface Drawing {
  createCanvas: typeof createCanvas;
  Chart: typeof Chart;
}

/** The drawing libraries, loaded and set up once; a failed load is tried again at the next chart. */
let drawing: Promise<Drawing> | undefined;
function loadDrawing(): Promise<Drawing> {
  drawing ??= Promise.all([import('@napi-rs/canvas'), import('chart.js')])
    .then(([canvas, chartJs]) => {
      canvas.GlobalFonts.registerFromPath(fileURLToPath(import.meta.resolve('@fontsource/dejavu-sans/files/dejavu-sans-latin-400-normal.woff2')), FONT_FAMILY);
      const { Chart: ChartJs } = chartJs;
      ChartJs.register(chartJs.LineController, chartJs.LineElement, chartJs.PointElement, chartJs.LinearScale, chartJs.CategoryScale, chartJs.Title, chartJs.Legend, chartJs.Filler);
      ChartJs.defaults.font.family = FONT_FAMILY;
      ChartJs.defaults.color = '#24292f';
      return { createCanvas: canvas.createCanvas, Chart: ChartJs };
    })
    .catch((error: unknown) => {
      drawing = undefined;
      throw error;
    });
  return drawing;
}

/** HH:MM in UTC: the chart is the same for every reader, and the thread says which zone. */
function clock(ms: number): string {
  const date = new Date(ms);
  return `${String(date.getUTCHours()).padStart(2, '0')}:${String(date.getUTCMinutes()).padStart(2, '0')}`;
}

/** Draws the firing window behind the lines and the threshold on top of the grid. */
function markers(input: MetricChartInput, ctx: SKRSContext2D): Plugin<'line'> {
  return {
    id: 'alarm-markers',
    beforeDatasetsDraw(chart) {
      // Drawn on our own Skia context: Chart.js types its context with DOM types this project does not load.
      const { chartArea, scales } = chart;
      const x = scales.x;
      const y = scales.y;
      if (!x || !y) return;
      ctx.save();
      if (input.firing) {
        const left = Math.max(chartArea.left, x.getPixelForValue(input.firing.from));
        const right = Math.min(chartArea.right, x.getPixelForValue(input.firing.to ?? input.to));
        if (right > left) {
          ctx.fillStyle = input.state === 'FIRING' ? FIRING_FILL : RECOVERED_FILL;
          ctx.fillRect(left, chartArea.top, right - left, chartArea.bottom - chartArea.top);
          ctx.fillStyle = input.state === 'FIRING' ? THRESHOLD_COLOR : '#1a7f37';
          ctx.font = `12px ${FONT_FAMILY}`;
          const label = input.state === 'FIRING' ? 'firing' : 'fired';
          const width = ctx.measureText(label).width;
          // A window too narrow for its label (it just started) is labelled on its left.
          ctx.fillText(label, right - left >= width + 8 ? left + 4 : Math.max(chartArea.left, left - width - 4), chartArea.top + 14);
        }
      }
      if (input.threshold) {
        const level = y.getPixelForValue(input.threshold.value);
        if (level >= chartArea.top && level <= chartArea.bottom) {
          ctx.strokeStyle = THRESHOLD_COLOR;
          ctx.lineWidth = 2;
          ctx.setLineDash([8, 6]);
          ctx.beginPath();
          ctx.moveTo(chartArea.left, level);
          ctx.lineTo(chartArea.right, level);
          ctx.stroke();
          ctx.setLineDash([]);
          ctx.fillStyle = THRESHOLD_COLOR;
          ctx.font = `12px ${FONT_FAMILY}`;
          const label = `threshold ${input.threshold.operator} ${input.threshold.value}`;
          ctx.fillText(label, chartArea.right - ctx.measureText(label).width - 4, level - 6);
        }
      }
      ctx.restore();
    },
  };
}

/** The y range: every point and the threshold, with some room so the threshold line is never on the edge. */
function yRange(input: MetricChartInput): { min: number; max: number } {
  const values = input.series.flatMap((series) => series.points.map((point) => point.value)).filter(Number.isFinite);
  if (input.threshold) values.push(input.threshold.value);
  if (values.length === 0) return { min: 0, max: 1 };
  const low = Math.min(...values);
  const high = Math.max(...values);
  const pad = high === low ? Math.max(1, Math.abs(high) * 0.1) : (high - low) * 0.1;
  return { min: low >= 0 && low - pad < 0 ? 0 : low - pad, max: high + pad };
}

/** Renders the chart to PNG bytes. */
export async function renderMetricChart(input: MetricChartInput): Promise<Buffer> {
  const { createCanvas, Chart } = await loadDrawing();
  const width = input.width ?? 900;
  const height = input.height ?? 420;
  const canvas = createCanvas(width, height);
  const context = canvas.getContext('2d');
  context.fillStyle = '#ffffff';
  context.fillRect(0, 0, width, height);
  const { min, max } = yRange(input);
  const chart = new Chart(context, {
    type: 'line',
    data: {
      datasets: input.series.slice(0, COLORS.length).map((series, index) => ({
        label: series.label,
        data: series.points.filter((point) => Number.isFinite(point.value) && point.at >= input.from && point.at <= input.to).map((point) => ({ x: point.at, y: point.value })),
        borderColor: COLORS[index],
        backgroundColor: COLORS[index],
        borderWidth: 2,
        pointRadius: 0,
        tension: 0,
      })),
    },
    options: {
      animation: false,
      responsive: false,
      devicePixelRatio: 1,
      events: [],
      layout: { padding: 12 },
      plugins: {
        title: { display: true, text: input.title, font: { size: 16 } },
        legend: { display: input.series.length > 0, position: 'bottom', labels: { boxWidth: 14 } },
        tooltip: { enabled: false },
      },
      scales: {
        x: {
          type: 'linear',
          min: input.from,
          max: input.to,
          ticks: { stepSize: 10 * 60_000, callback: (value) => clock(Number(value)), maxRotation: 0 },
          title: { display: true, text: input.subtitle ? `UTC · ${input.subtitle}` : 'UTC' },
        },
        y: { suggestedMin: min, suggestedMax: max, beginAtZero: false },
      },
    },
    plugins: [markers(input, context)],
  });
  const png = canvas.toBuffer('image/png');
  chart.destroy();
  return png;
}
