// The 0.10.x bot's src/utils.ts routes log() through logJSON({msg}) (its other exports are the
// bot's status callbacks, not used by the recording path). This is that log(), nothing more.
import { logJSON } from '../upstream/v0.10.6/services/vexa-bot/core/src/utils/log';

export function log(message: string): void {
  logJSON({ msg: message });
}
