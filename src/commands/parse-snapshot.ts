import { notImplementedCommand } from '../core/cli/index.js';

export default notImplementedCommand('parse-snapshot', 'Stream a snapshot as Redis SET commands');
