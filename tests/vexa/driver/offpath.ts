// Names the vendored capture-bridge.ts imports for launching and joining a meeting, speaking and
// reading the bot's configuration: none of it is on the recording path, so each one only throws.
function offPath(name: string): never {
  throw new Error(`${name} is not part of the recording path the driver runs`);
}
export const launchPersistentBrowser = (): never => offPath('launchPersistentBrowser');
export const syncBrowserDataFromS3 = (): never => offPath('syncBrowserDataFromS3');
export const syncBrowserDataToS3 = (): never => offPath('syncBrowserDataToS3');
export const cleanStaleLocks = (): never => offPath('cleanStaleLocks');
export const getAuthenticatedBrowserArgs = (): never => offPath('getAuthenticatedBrowserArgs');
export const makeEphemeralProfileDir = (): never => offPath('makeEphemeralProfileDir');
export const removeProfileDir = (): never => offPath('removeProfileDir');
export const getJoinBrowserArgs = (): never => offPath('getJoinBrowserArgs');
export const isMixedLanePlatform = (): never => offPath('isMixedLanePlatform');
export const createTtsPlayback = (): never => offPath('createTtsPlayback');
