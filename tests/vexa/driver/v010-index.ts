// The 0.10.x bot's index.ts hands the audio pipeline its segment publisher (transcription, not
// recording); the driver transcribes nothing.
export function getSegmentPublisher(): null {
  return null;
}
