from apps.core.tasks import Queue, kiki_task
from apps.governance.services import report_execute


@kiki_task("governance.run_report", queue=Queue.DEFAULT)
def run_report(run_id: int) -> str:
    return report_execute(run_id=run_id).status
