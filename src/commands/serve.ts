import { notImplementedCommand } from '../core/cli/index.js';

export default notImplementedCommand('serve', 'Run a bitraft node');
