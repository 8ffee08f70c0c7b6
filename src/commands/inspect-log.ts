import { notImplementedCommand } from '../core/cli/index.js';

export default notImplementedCommand('inspect-log', 'Decode the Raft log of a data directory');
