// Runs Vexa's recording upload code, unmodified, against a server: `node build/driver.cjs
// SCENARIO.json`. Prints every line the bot logs (JSON, one a line) and a last summary line.
import { readFileSync } from 'node:fs';

import { createRecordingTap } from '../upstream/head/core/meetings/modules/record-chunker/src/index';
import { startRecording } from '../upstream/head/core/meetings/services/bot/src/capture-bridge';
import { createBotRecordingSink } from '../upstream/head/core/meetings/services/bot/src/recording';
import {
  PulseAudioCapture,
  UnifiedRecordingPipeline,
} from '../upstream/head/core/meetings/modules/recording/src/audio-pipeline';
import { RecordingService } from '../upstream/head/core/meetings/modules/recording/src/recording';
import {
  PulseAudioCapture as PulseAudioCapture010,
  UnifiedRecordingPipeline as UnifiedRecordingPipeline010,
} from '../upstream/v0.10.6/services/vexa-bot/core/src/services/audio-pipeline';
import { RecordingService as RecordingService010 } from '../upstream/v0.10.6/services/vexa-bot/core/src/services/recording';
import { installMeetingPage, meetingPage } from './meeting';

interface Scenario {
  bot: 'head-meet' | 'head-zoom' | 'v010-zoom';
  upload_url: string;
  token: string;
  meeting_id: number;
  session_uid: string;
  blobs?: string[]; // head-meet: the MediaRecorder's timeslices
  pace_ms?: number;
  pcm_bytes?: number; // *-zoom: how much PCM the fake parecord plays
  chunk_seconds?: number;
  sample_rate?: number;
  timeout_ms?: number;
}

// HEAD logs '[Recording] Chunk uploaded'; 0.10.x moves the '[Recording]' prefix into `subsystem`.
const UPLOADED = 'Chunk uploaded';
const LOST = 'Chunk upload failed permanently';
const settled: { seq: number; ok: boolean }[] = [];

// Every line the bot prints goes out unchanged; chunk outcomes are also counted here.
const print = console.log.bind(console);
console.log = (...args: unknown[]): void => {
  const line = args.map(String).join(' ');
  print(line);
  try {
    const record = JSON.parse(line);
    const msg = String(record.msg ?? '');
    if (msg.endsWith(UPLOADED) || msg.endsWith(LOST)) {
      settled.push({ seq: record.chunk_seq, ok: msg.endsWith(UPLOADED) });
    }
  } catch {
    /* not JSON: printed above, nothing to count */
  }
};

function until(check: () => boolean, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const poll = (): void => {
      if (check()) resolve();
      else if (Date.now() > deadline) reject(new Error(`timed out waiting for ${what}`));
      else setTimeout(poll, 5);
    };
    poll();
  });
}

async function headMeet(s: Scenario): Promise<number> {
  const blobs = s.blobs ?? [];
  let allButLast = false;
  installMeetingPage(
    { blobs, paceMs: s.pace_ms ?? 0, mimeType: 'audio/webm;codecs=opus' },
    () => { allButLast = true; },
  );
  (globalThis as any).VexaBrowserUtils = { createRecordingTap };
  const inv: any = {
    platform: 'google_meet',
    nativeMeetingId: 'abc-defg-hij',
    connectionId: s.session_uid,
    meeting_id: s.meeting_id,
    internalSecret: s.token,
    recordingUploadUrl: s.upload_url,
  };
  const sink = createBotRecordingSink({ inv, log: (m) => console.log(JSON.stringify({ sink: m })) });
  const stop = await startRecording(meetingPage as any, inv, sink);
  await until(() => allButLast, 'the recorder to play its timeslices', s.timeout_ms ?? 60000);
  await stop(); // the meeting ends: the recorder flushes its last timeslice and the final chunk
  sink.close(`${inv.platform}/${inv.nativeMeetingId}`); // what the orchestrator does on leave
  return blobs.length + 1;
}

async function zoom(s: Scenario, legacy: boolean): Promise<number> {
  const rate = s.sample_rate ?? 16000;
  const chunkSeconds = s.chunk_seconds ?? 15;
  const options = { sampleRate: rate, channels: 1, chunkDurationSec: chunkSeconds, device: 'zoom_sink' };
  const source: any = legacy ? new PulseAudioCapture010(options) : new PulseAudioCapture(options);
  let emitted = 0;
  source.on('chunk', (c: { data: Buffer }) => { if (c.data.length > 0) emitted += 1; });
  const service = legacy
    ? new RecordingService010(s.meeting_id, s.session_uid, rate, 1)
    : new RecordingService(s.meeting_id, s.session_uid, rate, 1);
  const Pipeline: any = legacy ? UnifiedRecordingPipeline010 : UnifiedRecordingPipeline;
  const pipeline = new Pipeline({
    source, recordingService: service, uploadUrl: s.upload_url, token: s.token, platform: 'zoom-web',
  });
  await pipeline.start();
  const total = s.pcm_bytes ?? 0;
  const perChunk = rate * 2 * chunkSeconds;
  // All the PCM is in: every whole chunk sliced off, the rest waiting in the source's buffer.
  await until(
    () => emitted === Math.floor(total / perChunk) && source.buffer.length === total % perChunk,
    'the fake parecord to play its PCM',
    s.timeout_ms ?? 60000,
  );
  await pipeline.stop(); // emits the tail as the final chunk and drains the upload queue
  return emitted;
}

async function main(): Promise<void> {
  const s: Scenario = JSON.parse(readFileSync(process.argv[2], 'utf8'));
  const expected = s.bot === 'head-meet' ? await headMeet(s) : await zoom(s, s.bot === 'v010-zoom');
  await until(() => settled.length >= expected, 'every chunk to be uploaded or given up', s.timeout_ms ?? 60000);
  print(JSON.stringify({ driver: 'done', expected, settled }));
}

main().then(
  () => process.exit(0),
  (err) => {
    print(JSON.stringify({ driver: 'error', error: String(err?.stack ?? err) }));
    process.exit(1);
  },
);
