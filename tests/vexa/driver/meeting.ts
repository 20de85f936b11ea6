// The two things the driver stands in for: the meeting page (what Playwright's Page gives the
// bot: exposeFunction and evaluate, here in the same process) and the capture device (the
// browser's MediaRecorder, replaying prepared WebM slices as its timeslices).
import { readFileSync } from 'node:fs';

export interface RecorderScript {
  blobs: string[]; // files, one per MediaRecorder timeslice, in order
  paceMs: number; // time between timeslices
  mimeType: string;
}

type Handler = ((event: any) => unknown) | null;

/** Installs a browser-like global scope: window, document with one playing <audio>, Web Audio. */
export function installMeetingPage(script: RecorderScript, onAllButLast: () => void): void {
  const g = globalThis as any;
  class MediaStream {
    getAudioTracks(): object[] {
      return [{ kind: 'audio' }];
    }
  }
  const audio = { paused: false, srcObject: new MediaStream() };
  class AudioContext {
    createMediaStreamDestination(): { stream: MediaStream } {
      return { stream: new MediaStream() };
    }
    createMediaStreamSource(): { connect(): void } {
      return { connect(): void {} };
    }
  }
  class MediaRecorder {
    static isTypeSupported(mime: string): boolean {
      return mime === script.mimeType;
    }
    state = 'inactive';
    mimeType: string;
    onstart: Handler = null;
    ondataavailable: Handler = null;
    onstop: Handler = null;
    private next = 0;
    private timer: NodeJS.Timeout | null = null;
    constructor(_stream: MediaStream, options?: { mimeType?: string }) {
      this.mimeType = options?.mimeType ?? script.mimeType;
    }
    start(_timesliceMs?: number): void {
      this.state = 'recording';
      this.onstart?.({});
      const tick = (): void => {
        if (this.next >= script.blobs.length - 1) {
          onAllButLast();
          return;
        }
        this.emit(this.next++);
        this.timer = setTimeout(tick, script.paceMs);
      };
      this.timer = setTimeout(tick, script.paceMs);
    }
    stop(): void {
      // Like Chromium: the last timeslice's dataavailable, then stop. Chromium reads a Blob
      // asynchronously, and the read outlasts the task that fires stop, so the bot's final
      // (empty) chunk is handed on before the last data chunk; here the two events fire in one
      // task, which gives that order every time.
      if (this.timer) clearTimeout(this.timer);
      this.state = 'inactive';
      setImmediate(() => {
        while (this.next < script.blobs.length) this.emit(this.next++);
        this.onstop?.({});
      });
    }
    private emit(index: number): void {
      const data = new Blob([readFileSync(script.blobs[index])], { type: this.mimeType });
      void this.ondataavailable?.({ data });
    }
  }
  g.window = g;
  g.document = { querySelectorAll: () => [audio] };
  g.MediaStream = MediaStream;
  g.AudioContext = AudioContext;
  g.MediaRecorder = MediaRecorder;
  g.logBot = (msg: string) => console.log(JSON.stringify({ page: msg }));
}

/** The part of Playwright's Page the bot's recording bridge uses, run in this process. */
export const meetingPage = {
  async exposeFunction(name: string, fn: (...args: any[]) => unknown): Promise<void> {
    (globalThis as any)[name] = async (...args: any[]) => fn(...args);
  },
  async evaluate<A>(fn: (arg: A) => unknown, arg?: A): Promise<unknown> {
    return fn(arg as A);
  },
};
