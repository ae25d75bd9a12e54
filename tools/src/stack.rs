//! The queues of `template.yaml`, named in one place. The local loop provisions exactly these
//! (a test checks them against the template), so the local stack cannot drift from the
//! deployed one.

/// One queue of the stack: its logical id in the template, the name suffix after
/// `${AWS::StackName}-`, and the dead-letter queue it redrives to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueSpec {
    pub logical_id: &'static str,
    pub suffix: &'static str,
    pub dead_letter: Option<&'static str>,
    /// Follows the `QueueType` parameter (FIFO by default); otherwise always standard.
    pub follows_queue_type: bool,
}

pub const QUEUES: [QueueSpec; 6] = [
    QueueSpec {
        logical_id: "EventsQueue",
        suffix: "events",
        dead_letter: Some("EventsDeadLetterQueue"),
        follows_queue_type: true,
    },
    QueueSpec {
        logical_id: "EventsDeadLetterQueue",
        suffix: "events-dlq",
        dead_letter: None,
        follows_queue_type: true,
    },
    QueueSpec {
        logical_id: "OutboundQueue",
        suffix: "outbound",
        dead_letter: Some("OutboundDeadLetterQueue"),
        follows_queue_type: true,
    },
    QueueSpec {
        logical_id: "OutboundDeadLetterQueue",
        suffix: "outbound-dlq",
        dead_letter: None,
        follows_queue_type: true,
    },
    QueueSpec {
        logical_id: "SentQueue",
        suffix: "sent",
        dead_letter: Some("SentDeadLetterQueue"),
        follows_queue_type: false,
    },
    QueueSpec {
        logical_id: "SentDeadLetterQueue",
        suffix: "sent-dlq",
        dead_letter: None,
        follows_queue_type: false,
    },
];

impl QueueSpec {
    pub fn name(&self, stack: &str, fifo: bool) -> String {
        let fifo = fifo && self.follows_queue_type;
        format!("{stack}-{}{}", self.suffix, if fifo { ".fifo" } else { "" })
    }
}

pub fn spec(logical_id: &str) -> Option<&'static QueueSpec> {
    QUEUES.iter().find(|q| q.logical_id == logical_id)
}
