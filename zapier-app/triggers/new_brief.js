'use strict';

const { subscribe, unsubscribe, perform, list, meetingOutputFields, meetingSample } = require('./hook_trigger');

const sample = {
  id: '1042',
  ...meetingSample,
  meeting_summary: 'Initech wants the renewal signed by March; legal needs the updated DPA.',
  action_items: [
    { text: 'Send the updated pricing', speaker: 'Ann Example' },
    { text: 'Share the DPA with legal', speaker: '' },
  ],
  action_items_text: '• Send the updated pricing (Ann Example)\n• Share the DPA with legal',
};

module.exports = {
  key: 'new_brief',
  noun: 'Post-Meeting Brief',
  display: {
    label: 'New Post-Meeting Brief',
    description:
      'Triggers when Chorus writes a post-meeting brief (Meeting Summary and Action Items). ' +
      'Meetings shorter than 10 minutes get no brief.',
  },
  operation: {
    type: 'hook',
    performSubscribe: subscribe('new_brief'),
    performUnsubscribe: unsubscribe,
    perform,
    performList: list('briefs/'),
    sample,
    outputFields: [
      ...meetingOutputFields,
      { key: 'meeting_summary', label: 'Meeting Summary' },
      { key: 'action_items_text', label: 'Action Items' },
      { key: 'action_items[]text', label: 'Action Item Text' },
      { key: 'action_items[]speaker', label: 'Action Item Speaker' },
    ],
  },
};
