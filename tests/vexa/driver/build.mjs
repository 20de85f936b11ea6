// Bundles the driver and the vendored upstream files into build/driver.cjs. The upstream files are
// not edited: imports that leave the recording path are pointed at small modules of ours here.
import * as esbuild from 'esbuild';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const head = path.join(here, '..', 'upstream', 'head', 'core', 'meetings');
const v010 = path.join(here, '..', 'upstream', 'v0.10.6', 'services', 'vexa-bot', 'core', 'src');

// specifier -> file, for every import of the vendored files that is not vendored itself.
const redirects = {
  '@vexa/recording': path.join(head, 'modules', 'recording', 'src', 'recording.ts'),
  '@vexa/remote-browser': path.join(here, 'offpath.ts'),
  '@vexa/join': path.join(here, 'offpath.ts'),
  './config.js': path.join(here, 'offpath.ts'),
  './tts-playback.js': path.join(here, 'offpath.ts'),
  '../utils': path.join(here, 'v010-utils.ts'),
  '../index': path.join(here, 'v010-index.ts'),
};

const redirect = {
  name: 'redirect',
  setup(build) {
    build.onResolve({ filter: /.*/ }, (args) => {
      const target = redirects[args.path];
      if (!target || !args.importer.includes(`${path.sep}upstream${path.sep}`)) return undefined;
      return { path: target };
    });
  },
};

await esbuild.build({
  entryPoints: [path.join(here, 'main.ts')],
  outfile: path.join(here, '..', 'build', 'driver.cjs'),
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node18',
  external: ['playwright'],
  plugins: [redirect],
  logLevel: 'warning',
});
