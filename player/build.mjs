// Builds the pages into dist/: one bundle per page (JS + CSS, no inline
// script, so the pages run under a strict Content-Security-Policy) and the
// HTML shells from pages/. `--tests` bundles test/*.test.ts into dist-test/
// for `node --test` instead. `--watch` rebuilds on change.
import * as esbuild from 'esbuild';
import { cpSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const here = new URL('.', import.meta.url).pathname;
const args = new Set(process.argv.slice(2));
const dist = join(here, 'dist');

const pages = readdirSync(join(here, 'src/pages'), { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name);


const common = {
  bundle: true,
  format: 'esm',
  target: ['chrome110', 'firefox115', 'safari16'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  sourcemap: true,
  logLevel: 'warning',
  loader: { '.svg': 'file', '.woff2': 'file' },
};

const pageBuild = {
  ...common,
  entryPoints: Object.fromEntries(pages.map((p) => [p, join(here, 'src/pages', p, 'main.tsx')])),
  outdir: join(dist, 'assets'),
  minify: !args.has('--dev'),
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
  assetNames: 'media/[name]-[hash]',
};

if (args.has('--tests')) {
  // handled below
} else if (args.has('--watch')) {
  const ctx = await esbuild.context(pageBuild);
  await ctx.watch();
  console.log('watching player/src …');
} else {
  rmSync(dist, { recursive: true, force: true });
  mkdirSync(join(dist, 'assets'), { recursive: true });
  cpSync(join(here, 'pages'), dist, { recursive: true });
  // The older player pages (player/publish.html, watch.html) load hls.js as a
  // script: the npm package's own build, the same version the pages bundle.
  const hlsDist = join(here, 'node_modules/hls.js');
  mkdirSync(join(dist, 'player/vendor'), { recursive: true });
  cpSync(join(hlsDist, 'dist/hls.min.js'), join(dist, 'player/vendor/hls.min.js'));
  cpSync(join(hlsDist, 'LICENSE'), join(dist, 'player/vendor/hls.js.LICENSE'));
  await esbuild.build(pageBuild);
}

if (args.has('--tests')) {
  const testDir = join(here, 'test');
  const tests = readdirSync(testDir).filter((f) => f.endsWith('.test.ts') || f.endsWith('.test.tsx'));
  rmSync(join(here, 'dist-test'), { recursive: true, force: true });
  await esbuild.build({
    ...common,
    entryPoints: tests.map((t) => join(testDir, t)),
    outdir: join(here, 'dist-test'),
    platform: 'node',
    target: 'node18',
    outExtension: { '.js': '.mjs' },
    splitting: false,
    sourcemap: 'inline',
  });
}
