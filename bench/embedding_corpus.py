"""Real sentence embeddings for vector-search benchmarks: a generated English corpus and
held-out queries, embedded by the project's MiniLM model and cached outside git.

    python bench/embedding_corpus.py [--rows 100000] [--queries 1000]

From another benchmark::

    from bench.embedding_corpus import load
    corpus, queries = load(rows=100_000, queries=1_000)  # (100000, 384), (1000, 384) float32

* The text: a seeded template grammar over 14 topic vocabularies (cooking, travel,
  finance, software, medicine, science, sports, products, gardening, music, education,
  law, cars, homes), each with its own subjects, groups of verbs with the objects they
  take, places, purposes and conditions, plus shared adverbs, time phrases and openers.
  Topics are drawn with unequal weights, so the vectors cluster by topic (and within a
  topic by verb group) as real text does, without trivial duplicates: every corpus
  sentence is distinct. No download, the same sentences on any machine.
* The queries: from the same vocabularies, drawn from a stream of their own, as short
  questions ("How does the pastry chef proof the brioche dough?"). Every query ends with
  a question mark and no corpus sentence does, so no query is a corpus sentence.
* The vectors: ``OnnxEncoder`` with ``all-MiniLM-L6-v2`` (``make model`` exports it into
  ``.faasflow/models``), mean pooling, L2-normalised: 384-dim float32 rows. Texts are
  batched by length (less padding); the rows come back in the generator's order.
* The cache: ``$XDG_CACHE_HOME/faasflow/bench/embeddings`` (default
  ``~/.cache/faasflow/bench/embeddings``), one folder per generator version and model
  (``v1-all-MiniLM-L6-v2/``) holding ``corpus-<rows>.npy`` and ``queries-<count>.npy``,
  each with a ``.json`` beside it (seed, model fingerprint, build time). Files are written
  to a temporary name and renamed into place, so an interrupted build leaves nothing
  half-written. A later call memory-maps them (read-only arrays) in milliseconds.
* Prefixes: ``sentences(n)`` is always the first ``n`` distinct sentences of one seeded
  stream, so the first ``n`` rows of a larger build are the rows of a build of ``n``
  (to float rounding: batches differ). ``load`` therefore serves a smaller count from the
  smallest larger cached file, without building; the same holds for the queries.
  ``GENERATOR_VERSION`` must change whenever the generator's output does.

The first build runs the model on the CPU: 55-60 rows/s on one core, so about half an hour
for 100,000 rows (31 minutes on a shared 2-core AMD EPYC); more cores, proportionally less.
ONNX Runtime's intra-op threads follow ``$OMP_NUM_THREADS`` when it is set (else one per
core); tokenization follows ``$RAYON_NUM_THREADS``. Progress (rows/s, ETA) goes to stderr.
``__main__`` builds the cache and prints the shapes, the time taken, the mean cosine of each
query to its nearest corpus row and the fraction of distinct sentences.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from faasflow.executors.model_files import DEFAULT_MODEL  # noqa: E402

GENERATOR_VERSION = 1  # bump on any change to the vocabularies, templates or draws
DIM = 384
BATCH = 32  # on one core, small batches ran ~15% faster than 256 (the activations stay in cache)
SEED = 0  # what load() embeds


# --- vocabularies ----------------------------------------------------------------------


def _items(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(";") if item.strip())


@dataclass(frozen=True)
class Topic:
    name: str
    weight: float
    subjects: tuple[str, ...]  # singular noun phrases
    actions: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]  # (verbs, objects they take)
    places: tuple[str, ...]
    purposes: tuple[str, ...]
    conditions: tuple[str, ...]


def _topic(name: str, weight: float, subjects: str, actions: list[tuple[str, str]], places: str, purposes: str,
           conditions: str) -> Topic:
    return Topic(name, weight, _items(subjects), tuple((_items(v.replace(",", ";")), _items(o)) for v, o in actions),
                 _items(places), _items(purposes), _items(conditions))


TOPICS: tuple[Topic, ...] = (
    _topic(
        "cooking", 1.6,
        "the pastry chef; a home cook; the sous chef; Chef Moreau; the line cook; a food blogger; my grandmother; "
        "the bakery owner; a culinary student; the caterer; the head baker; the test-kitchen editor",
        [
            ("bake, proof, shape, score", "the sourdough loaf; a batch of croissants; the brioche dough; "
             "two rye boules; the focaccia; a tray of baguettes"),
            ("simmer, reduce, season, strain", "the chicken stock; a pot of tomato sauce; the red wine reduction; "
             "the ramen broth; a vegetable curry; the beef ragù"),
            ("chop, dice, slice, julienne", "the onions; a pile of carrots; the fresh herbs; two bunches of scallions; "
             "the bell peppers; the garlic cloves"),
            ("marinate, grill, sear, roast", "the pork shoulder; a whole chicken; the salmon fillets; "
             "thick-cut ribeye steaks; the lamb chops; a tray of root vegetables"),
            ("whisk, fold, temper, pipe", "the egg whites; a bowl of whipped cream; the chocolate ganache; "
             "the lemon custard; the meringue; a batch of buttercream"),
        ],
        "in the restaurant kitchen; at the farmers' market stall; in a cramped apartment kitchen; "
        "behind the bakery counter; at the cooking school; in the test kitchen; on the outdoor grill; "
        "at the food festival",
        "to keep the crust crisp; to deepen the flavour; for the dinner service; so the texture stays light; "
        "for a wedding banquet; to save time during prep; for the weekend brunch menu; to cut down on food waste",
        "when the oven is fully preheated; once the butter has softened; if the dough has doubled in size; "
        "only after tasting the sauce; when the kitchen is quiet; if fresh ingredients are available",
    ),
    _topic(
        "travel", 1.3,
        "the tour guide; a backpacker; the travel agent; a solo traveller; the hotel concierge; a travel writer; "
        "an exchange student; the cruise director; my cousin; a business traveller; the hostel manager; a honeymooner",
        [
            ("book, reserve, cancel, reschedule", "a window seat on the night train; the hotel room; "
             "a ferry crossing; the guided museum tour; two tickets to Lisbon; a rental car"),
            ("pack, weigh, label, unpack", "the carry-on bag; a heavy backpack; the hiking gear; "
             "a suitcase full of souvenirs; the camera equipment"),
            ("explore, photograph, map, visit", "the old harbour; a hilltop monastery; the night market; "
             "the coastal trail; a volcanic island; the medieval city walls"),
            ("compare, research, translate, review", "the train timetables; a list of visa requirements; "
             "the local bus routes; the travel insurance policy; a stack of hotel reviews; the restaurant menus"),
            ("exchange, budget, track, split", "the remaining euros; a daily travel allowance; the shared taxi fares; "
             "the hostel costs; a stack of receipts"),
        ],
        "at the airport check-in desk; in a crowded train station; on the overnight ferry; "
        "in a small mountain village; at the hostel reception; along the coastal highway; in the departure lounge; "
        "at a roadside café",
        "to avoid the summer crowds; for a two-week trip across Japan; to catch the early flight; "
        "to stay within budget; for the group tour next month; so nobody misses the connection; "
        "to see the northern lights; for a weekend getaway",
        "when fares drop in the off-season; if the flight is delayed; once the visa has been approved; "
        "before crossing the border; when the weather clears; if the museum is open late",
    ),
    _topic(
        "finance", 1.2,
        "the portfolio manager; a retail investor; the chief financial officer; our accountant; "
        "a hedge fund analyst; the loan officer; a small business owner; the auditor; a pension trustee; "
        "the treasury team; a day trader; the credit analyst",
        [
            ("buy, sell, hedge, short", "the technology shares; a basket of government bonds; the currency futures; "
             "a stake in the mining company; the dividend stocks; an index fund"),
            ("audit, reconcile, file, review", "the quarterly accounts; a stack of expense reports; the tax return; "
             "the balance sheet; the payroll records; an overdue invoice"),
            ("approve, refinance, restructure, underwrite", "the mortgage application; a small business loan; "
             "the corporate debt; the credit line; a student loan"),
            ("forecast, model, estimate, analyse", "the interest rate outlook; next year's cash flow; "
             "the inflation figures; the quarterly earnings; the default risk; a revenue projection"),
            ("deposit, transfer, withdraw, invest", "the year-end bonus; a monthly savings amount; "
             "the emergency fund; the pension contributions; the proceeds from the sale"),
        ],
        "at the trading desk; in the boardroom; at the regional bank branch; on the stock exchange floor; "
        "in the back office; at the annual shareholder meeting; in the compliance department; at the kitchen table",
        "to reduce exposure to rising rates; ahead of the earnings call; to meet the regulatory deadline; "
        "for retirement; to diversify the portfolio; before the market opens; to lower the monthly payments; "
        "to satisfy the auditors",
        "when interest rates fall; if the market opens lower; once the quarter closes; "
        "only after consulting compliance; when volatility spikes; if the dividend is cut",
    ),
    _topic(
        "software", 1.5,
        "the backend developer; a junior engineer; the site reliability engineer; our tech lead; "
        "an open-source maintainer; the data engineer; a security researcher; the release manager; "
        "a frontend developer; the platform team; a contractor; the database administrator",
        [
            ("debug, trace, reproduce, fix", "a memory leak in the cache layer; the flaky integration test; "
             "a race condition in the scheduler; the null pointer exception; an off-by-one error in pagination; "
             "the timeout in the checkout flow"),
            ("refactor, profile, optimise, document", "the payment service; a slow SQL query; "
             "the authentication module; the legacy parser; the search indexer; the REST API client"),
            ("deploy, roll back, monitor, scale", "the Kubernetes cluster; a new release of the API; "
             "the message queue; the staging environment; the canary build; the load balancer"),
            ("review, merge, rebase, revert", "the pull request; a large feature branch; the dependency upgrade; "
             "the hotfix commit; the configuration change"),
            ("index, migrate, back up, query", "the customer database; a terabyte of log files; the user table; "
             "the analytics warehouse; the vector index; the event stream"),
        ],
        "in the production environment; on the staging server; in the shared code repository; "
        "on a laptop at the coffee shop; in the CI pipeline; at the team hackathon; in the cloud console; "
        "on the on-call rota's busiest night",
        "to cut the response time in half; before the release freeze; to keep the error rate low; "
        "for the upcoming security audit; so the nightly build passes again; to support ten times more traffic; "
        "to reduce the cloud bill; for the new mobile app",
        "when the test suite is green; if the error budget allows it; once the code review is approved; "
        "only during the maintenance window; when traffic is low; if the logs show repeated timeouts",
    ),
    _topic(
        "medicine", 1.2,
        "the emergency physician; a night-shift nurse; the cardiologist; Dr. Okafor; a medical resident; "
        "the pharmacist; the physiotherapist; a paramedic; the surgeon; a general practitioner; "
        "the clinical researcher; the radiologist",
        [
            ("diagnose, examine, monitor, treat", "the patient with chest pain; a child with a high fever; "
             "the elderly man with pneumonia; a runner with a knee injury; the patient in room four; "
             "a woman with chronic migraines"),
            ("prescribe, adjust, review, stop", "the blood pressure medication; a course of antibiotics; "
             "the insulin dose; the pain relief plan; the anticoagulant therapy"),
            ("order, interpret, read, compare", "the chest X-ray; a full blood count; the MRI scan; "
             "the ECG results; the biopsy report; a CT scan of the abdomen"),
            ("clean, stitch, dress, bandage", "the deep cut on the forearm; a surgical wound; the burn on her hand; "
             "the scraped knee; a laceration above the eye"),
            ("schedule, explain, recommend, discuss", "the follow-up appointment; a physical therapy programme; "
             "the knee replacement surgery; the vaccination plan; a low-sodium diet"),
        ],
        "in the emergency department; at the rural clinic; in the intensive care unit; "
        "during the morning ward round; at the community pharmacy; in the operating theatre; "
        "at the sports medicine centre; on the cardiology ward",
        "to reduce the risk of infection; to lower the patient's blood pressure; before the patient is discharged; "
        "to rule out a fracture; in line with the new guidelines; to manage the chronic pain; "
        "so the wound heals cleanly; to prevent a second heart attack",
        "when the symptoms get worse; if the fever has not come down; once the lab results are back; "
        "only after getting the patient's consent; when the blood tests are normal; if the swelling spreads",
    ),
    _topic(
        "science", 1.0,
        "the lab technician; a graduate student; the principal investigator; Professor Lindqvist; "
        "a marine biologist; the chemist; a postdoctoral researcher; the geologist; the physicist; "
        "a field ecologist; the research team; a visiting scientist",
        [
            ("measure, calibrate, record, test", "the spectrometer readings; a sample of seawater; "
             "the pH of the solution; the temperature of the reactor; the magnetic field strength; "
             "the sensor array"),
            ("sequence, culture, isolate, stain", "the bacterial strain; a tissue sample; the yeast colonies; "
             "the viral DNA; a batch of stem cells"),
            ("collect, label, analyse, catalogue", "the soil cores; a set of rock samples; the fossil fragments; "
             "the insect specimens; the ice core samples; the plankton samples"),
            ("publish, replicate, revise, present", "the experimental results; a paper on protein folding; "
             "the climate model; the statistical analysis; the findings on coral bleaching"),
            ("synthesise, purify, dilute, heat", "the catalyst; a new polymer; the reaction mixture; "
             "the copper compound; a buffer solution"),
        ],
        "in the university laboratory; at the research station in Antarctica; aboard the survey vessel; "
        "in the clean room; at the field site near the glacier; in the microscopy suite; "
        "at the particle accelerator; in the basement lab",
        "to test the hypothesis; for the grant report; to confirm the earlier findings; "
        "before the peer review deadline; to reduce contamination; for a long-term climate study; "
        "to measure the reaction rate; so the experiment can be replicated",
        "when the samples are frozen; if the control group shows no change; "
        "once the equipment has been calibrated; only after the safety briefing; when the readings are stable; "
        "if the reviewers ask for more data",
    ),
    _topic(
        "sports", 1.3,
        "the head coach; a veteran striker; the team captain; the goalkeeper; a young sprinter; the team physio; "
        "the point guard; a marathon runner; the assistant coach; a tennis player; the swimmer; the club manager",
        [
            ("train, coach, drill, motivate", "the youth squad; a group of sprinters; the defensive line; "
             "the new recruits; the relay team; the under-15 side"),
            ("take, score, miss, celebrate", "the penalty kick; a late equaliser; the free throw; "
             "a header from the corner; the winning basket"),
            ("analyse, rewatch, discuss, study", "the match footage; a set of opponent statistics; "
             "the final quarter; the tactical plan; the previous season's results"),
            ("stretch, strengthen, rehabilitate, ice", "the injured hamstring; a sore shoulder; the sprained ankle; "
             "the lower back; a tight calf muscle"),
            ("plan, run, time, finish", "the interval session; a ten-kilometre race; the hill repeats; "
             "the marathon; the recovery run; a long-distance relay"),
        ],
        "at the training ground; in the packed stadium; on the indoor track; at the regional championships; "
        "in the team locker room; on the muddy pitch; at the Olympic pool; on the basketball court",
        "to prepare for the cup final; to improve endurance; before the transfer deadline; "
        "to avoid another injury; for the championship season; to break the national record; "
        "to qualify for the finals; to build team morale",
        "when the weather is dry; if the starting goalkeeper is injured; once the season is over; "
        "only after a full warm-up; when the team is trailing; if the coach allows it",
    ),
    _topic(
        "products", 1.4,
        "the product reviewer; a customer; the store manager; a tech journalist; the warehouse supervisor; "
        "an online shopper; the sales assistant; a video reviewer; the support agent; the quality inspector; "
        "a first-time buyer; the marketing team",
        [
            ("unbox, test, review, compare", "the new noise-cancelling headphones; a budget smartphone; "
             "the 4K television; the robot vacuum; a mechanical keyboard; the smartwatch"),
            ("return, exchange, refund, replace", "the faulty charger; a cracked phone screen; "
             "the defective blender; the wrong pair of running shoes; a broken laptop hinge"),
            ("order, ship, restock, price", "the wireless earbuds; a pallet of coffee makers; the winter jackets; "
             "the gaming consoles; a shipment of air fryers; the standing desks"),
            ("assemble, install, set up, update", "the bookshelf; a smart thermostat; the home security camera; "
             "the Wi-Fi router; the firmware on the printer"),
            ("recommend, rate, advertise, discount", "the ergonomic office chair; a stainless steel water bottle; "
             "the electric toothbrush; the espresso machine; a pair of hiking boots"),
        ],
        "at the electronics store; on the online marketplace; in the distribution warehouse; "
        "at the customer service desk; in a crowded shopping mall; on the company website; "
        "at the product launch event; in the living room",
        "before the holiday sale ends; to qualify for free shipping; for a detailed comparison video; "
        "to fix the connectivity problems; to clear out last season's stock; for a birthday present; "
        "to beat the competitor's price; so the warranty stays valid",
        "when the price drops below fifty dollars; if the package arrives damaged; once the new model is released; "
        "only after reading the reviews; when the warranty is still valid; if the battery life is poor",
    ),
    _topic(
        "gardening", 0.8,
        "the gardener; a beekeeper; the allotment holder; my neighbour; the greenhouse manager; "
        "a landscape designer; the orchard owner; a hobby gardener; the park ranger; the florist; "
        "an organic farmer; the groundskeeper",
        [
            ("plant, water, prune, fertilise", "the tomato seedlings; a row of rose bushes; the apple trees; "
             "the herb garden; the lavender hedge; a bed of tulip bulbs"),
            ("harvest, pick, store, dry", "the ripe strawberries; a basket of runner beans; the garlic bulbs; "
             "the late potatoes; the sunflower seeds"),
            ("mow, rake, weed, mulch", "the front lawn; a vegetable bed; the gravel path; the flower borders; "
             "the orchard floor"),
            ("repot, propagate, divide, shade", "the succulents; a spider plant; the overgrown hostas; "
             "the fern cuttings; the orchids"),
        ],
        "in the back garden; at the community allotment; in the heated greenhouse; along the park path; "
        "in the walled kitchen garden; at the plant nursery; on the sunny balcony; in the orchard",
        "to protect the roots from frost; before the first frost arrives; to attract more bees; "
        "for the village flower show; to keep the slugs away; so the soil holds more moisture; "
        "to encourage new growth; for a bigger harvest next year",
        "when the soil is moist; if the leaves start to yellow; once the danger of frost has passed; "
        "only in the early morning; when the weather is mild; if aphids appear",
    ),
    _topic(
        "music", 0.8,
        "the conductor; a session guitarist; the sound engineer; a jazz pianist; the choir director; "
        "a street musician; the music producer; a violin teacher; the drummer; a songwriter; "
        "the bandleader; a club DJ",
        [
            ("rehearse, perform, arrange, record", "the second movement; a new song; the string quartet; "
             "the encore; a cover of an old folk tune; the national anthem"),
            ("tune, restring, repair, polish", "the acoustic guitar; an old upright piano; the cello; "
             "the bass guitar; a vintage mandolin"),
            ("mix, master, edit, sample", "the final track; a live album; the vocal takes; the drum loops; "
             "the film soundtrack"),
            ("compose, transcribe, memorise, teach", "the piano sonata; a short jazz solo; the chord progression; "
             "the choral piece; a lullaby"),
        ],
        "in the recording studio; at the concert hall; on the festival main stage; in a smoky jazz club; "
        "at the music school; in the rehearsal room; on a street corner downtown; in a home studio",
        "for the opening night; to get a warmer sound; before the tour starts; for the radio broadcast; "
        "to impress the audition panel; so the band can play it live; for the spring recital; "
        "to release it next month",
        "when the acoustics are right; if the lead singer is ill; once the lyrics are finished; "
        "only after a full soundcheck; when the studio is free; if the tempo feels rushed",
    ),
    _topic(
        "education", 0.9,
        "the maths teacher; a university lecturer; the headteacher; a teaching assistant; the school librarian; "
        "a private tutor; the course coordinator; a substitute teacher; the school counsellor; "
        "a doctoral supervisor; the exam invigilator; a student teacher",
        [
            ("grade, mark, moderate, return", "the history essays; a stack of exam papers; the lab reports; "
             "the final dissertations; the weekly quizzes"),
            ("plan, teach, deliver, redesign", "the lesson on fractions; a lecture on the French Revolution; "
             "the introductory statistics course; the phonics programme; a workshop on essay writing"),
            ("read, annotate, summarise, discuss", "the assigned novel; a chapter on photosynthesis; "
             "the research paper; the poetry anthology; the case study"),
            ("organise, supervise, cancel, announce", "the field trip; a parents' evening; the science fair; "
             "the end-of-year exams; the school assembly"),
        ],
        "in the classroom; at the university library; in the lecture theatre; on the online learning platform; "
        "in the staff room; at the summer school; in the school hall; in a quiet study room",
        "to prepare the class for the exams; before the term ends; to help struggling readers; "
        "for the accreditation review; to keep students engaged; so every pupil can follow along; "
        "for the new curriculum; to improve the pass rate",
        "when the class is quiet; if enough students sign up; once the marking scheme is agreed; "
        "only after the inspection; when the term starts; if the projector works",
    ),
    _topic(
        "law", 0.7,
        "the defence lawyer; a paralegal; the judge; the prosecutor; a law clerk; the compliance officer; "
        "an immigration attorney; the notary; a legal intern; the mediator; the general counsel; "
        "a public defender",
        [
            ("draft, revise, sign, negotiate", "the employment contract; a non-disclosure agreement; "
             "the settlement terms; the lease agreement; a licensing deal"),
            ("file, appeal, argue, settle", "the civil lawsuit; a patent infringement claim; the custody case; "
             "the insurance dispute; a wrongful dismissal case"),
            ("review, redact, cite, summarise", "the witness statements; a decades-old precedent; "
             "the discovery documents; the court transcript; the privacy policy"),
            ("advise, represent, interview, question", "the tenant facing eviction; a small startup; "
             "the key witness; the asylum seeker; the accused driver"),
        ],
        "in the county courthouse; at the law firm; in the judge's chambers; at the immigration office; "
        "in the conference room; at the legal aid clinic; in the courtroom corridor; at the notary's office",
        "before the filing deadline; to protect the client's interests; to avoid a lengthy trial; "
        "for the upcoming hearing; to comply with data protection rules; so the deal can close on time; "
        "to strengthen the appeal; for the merger review",
        "when the evidence is strong; if the other side refuses to settle; once the contract is signed; "
        "only after the client agrees; when the court is in session; if new evidence emerges",
    ),
    _topic(
        "cars", 0.8,
        "the mechanic; a car owner; the service advisor; a rally driver; the fleet manager; "
        "an apprentice mechanic; the tyre fitter; a used-car dealer; the test driver; a delivery driver; "
        "the body shop technician; a classic car collector",
        [
            ("inspect, repair, replace, diagnose", "the worn brake pads; a leaking radiator; the timing belt; "
             "the faulty alternator; a cracked windscreen; the rattling exhaust"),
            ("wash, polish, detail, wax", "the vintage convertible; a muddy pickup truck; the company vans; "
             "the electric hatchback; the leather interior"),
            ("charge, drive, park, tow", "the electric SUV; a rental van; the broken-down minibus; "
             "the delivery truck; a vintage motorbike"),
            ("rotate, balance, inflate, swap", "the front tyres; a flat spare tyre; the winter tyres; "
             "the worn rear tyres"),
            ("change, top up, check, drain", "the engine oil; the coolant; the brake fluid; "
             "the windscreen washer fluid; the transmission fluid"),
        ],
        "at the local garage; in the dealership workshop; on the motorway hard shoulder; at the charging station; "
        "in the multi-storey car park; at the race track; in the company depot; on the side of a country road",
        "before the annual inspection; to improve fuel economy; for a long road trip; to pass the emissions test; "
        "so the car starts in winter; to keep the fleet on the road; before selling the car; "
        "to stop the squeaking noise",
        "when the warning light comes on; if the engine overheats again; once the replacement parts arrive; "
        "only after the engine has cooled; when the mileage passes sixty thousand; if the tyres look uneven",
    ),
    _topic(
        "homes", 0.9,
        "the plumber; a homeowner; the electrician; an estate agent; the landlord; a first-time homeowner; "
        "the building surveyor; a carpenter; the interior designer; a tenant; the roofer; a property developer",
        [
            ("fix, unblock, replace, seal", "the leaking kitchen tap; a blocked drain; the cracked bathroom tiles; "
             "the dripping shower head; the old boiler; a draughty window frame"),
            ("paint, sand, varnish, wallpaper", "the living room walls; a wooden staircase; the garden fence; "
             "the children's bedroom; the kitchen cabinets"),
            ("inspect, value, list, rent out", "the two-bedroom flat; a Victorian terrace house; the converted loft; "
             "the seaside cottage; a studio apartment"),
            ("rewire, insulate, renovate, extend", "the basement; a draughty attic; the ground-floor kitchen; "
             "the garage; the old farmhouse"),
        ],
        "in the downstairs bathroom; on the top floor; in the back yard; at the open house; in the rented flat; "
        "on the roof; on the new housing estate; in the semi-detached house next door",
        "to cut the heating bills; before the new tenants move in; to raise the asking price; "
        "for the building inspection; so the house sells faster; to stop the damp spreading; "
        "before winter arrives; to meet the new safety regulations",
        "when the water is switched off; if the survey finds damp; once the paint has dried; "
        "only after the permit is granted; when the weather is dry; if the budget allows",
    ),
)

ADVERBS = _items("carefully; quickly; quietly; reluctantly; eagerly; patiently; finally; rarely; often; usually; "
                 "sometimes; gradually; deliberately; cautiously; proudly; happily; hastily; methodically")
HABITUAL_TIMES = _items("every morning; on Friday afternoons; twice a year; at the end of each month; "
                        "every other day; after lunch; late at night; during the busy season; on weekends; "
                        "once a week; before every shift; first thing on Mondays")
PAST_TIMES = _items("last week; yesterday; earlier today; over the weekend; last spring; two days ago; "
                    "for the first time last month; during the holidays; at the end of the quarter; "
                    "just before the deadline; on Tuesday night; after the long weekend")
FUTURE_TIMES = _items("tomorrow; next week; before the deadline; later this month; after the holidays; by Friday; "
                      "early next year; as soon as possible; over the coming weekend; before the next review")
DURATIONS = _items("for weeks; for almost a year; for the past hour; since the spring; all afternoon; "
                   "for three days straight; since early this morning; on and off for months")
SOURCES = _items("the latest guidelines; an internal memo; a recent survey; the team lead; the handbook; "
                 "several experts; the weekly newsletter; a long-time customer; the official checklist; "
                 "an old colleague")
OPENERS = _items("In practice; Surprisingly; As expected; Once again; By all accounts; Unusually; "
                 "To everyone's relief; As usual; In the end; For the first time")
SETBACKS = _items("ran out of time; gave up after an hour; had to start over; was interrupted twice; "
                  "could not finish before dark; forgot a crucial step; got the order wrong")

# --- inflection ------------------------------------------------------------------------

IRREGULAR = {  # base: past
    "buy": "bought", "sell": "sold", "read": "read", "run": "ran", "take": "took", "teach": "taught",
    "drive": "drove", "set": "set", "split": "split", "withdraw": "withdrew", "underwrite": "underwrote",
    "forecast": "forecast", "restring": "restrung",
}
DOUBLED = {"stop", "plan", "ship", "map", "swap", "chop", "debug", "repot", "transfer", "cancel", "label",
           "model", "split", "run", "top", "set"}  # final consonant doubled before -ed / -ing


def _head(verb: str) -> tuple[str, str]:
    word, _, rest = verb.partition(" ")
    return word, (" " + rest if rest else "")


def third_person(verb: str) -> str:
    word, rest = _head(verb)
    if word.endswith(("s", "sh", "ch", "x", "z", "o")):
        word += "es"
    elif word.endswith("y") and word[-2] not in "aeiou":
        word = word[:-1] + "ies"
    else:
        word += "s"
    return word + rest


def past(verb: str) -> str:
    word, rest = _head(verb)
    if word in IRREGULAR:
        return IRREGULAR[word] + rest
    if word in DOUBLED:
        word += word[-1] + "ed"
    elif word.endswith("e"):
        word += "d"
    elif word.endswith("y") and word[-2] not in "aeiou":
        word = word[:-1] + "ied"
    else:
        word += "ed"
    return word + rest


def gerund(verb: str) -> str:
    word, rest = _head(verb)
    if word in DOUBLED:
        word += word[-1] + "ing"
    elif word.endswith("e") and not word.endswith(("ee", "ye", "oe")):
        word = word[:-1] + "ing"
    else:
        word += "ing"
    return word + rest


# --- the grammar -----------------------------------------------------------------------


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


class _Draw:
    """One sentence's choices: a topic, a subject, a verb group with one or two of its verbs and objects."""

    def __init__(self, rng: random.Random, topic: Topic):
        self.rng, self.topic = rng, topic
        self.subject = rng.choice(topic.subjects)
        verbs, objects = rng.choice(topic.actions)
        self.verb, self.verb2 = rng.sample(verbs, 2)
        self.obj, self.obj2 = rng.sample(objects, 2)

    def pick(self, options: tuple[str, ...]) -> str:
        return self.rng.choice(options)

    def other_subject(self) -> str:
        return self.rng.choice([s for s in self.topic.subjects if s != self.subject])

    def adverb(self) -> str:  # "" or "carefully "
        return self.pick(ADVERBS) + " " if self.rng.random() < 0.35 else ""


def _statement(d: _Draw) -> str:
    t, s, v, o = d.topic, d.subject, d.verb, d.obj
    form = d.rng.randrange(16)
    if form == 0:
        text = f"{s} {d.adverb()}{third_person(v)} {o} {d.pick(t.places)}"
    elif form == 1:
        text = f"{s} {d.adverb()}{past(v)} {o} {d.pick(PAST_TIMES)}"
    elif form == 2:
        text = f"{d.pick(PAST_TIMES)}, {s} {past(v)} {o} {d.pick(t.purposes)}"
    elif form == 3:
        text = f"{s} {third_person(v)} {o} {d.pick(HABITUAL_TIMES)} {d.pick(t.purposes)}"
    elif form == 4:
        text = f"{s} will {v} {o} {d.pick(t.places)} {d.pick(FUTURE_TIMES)}"
    elif form == 5:
        text = f"according to {d.pick(SOURCES)}, {s} should {v} {o} {d.pick(t.conditions)}"
    elif form == 6:
        text = f"{s} only {third_person(v)} {o} {d.pick(t.conditions)}"
    elif form == 7:
        text = f"{s} and {d.other_subject()} {v} {o} together {d.pick(t.places)}"
    elif form == 8:
        text = f"after {gerund(v)} {o}, {s} {past(d.verb2)} {d.obj2} {d.pick(t.places)}"
    elif form == 9:
        text = f"it was {s} who {past(v)} {o} {d.pick(t.places)}"
    elif form == 10:
        text = f"{s} has been {gerund(v)} {o} {d.pick(t.places)} {d.pick(DURATIONS)}"
    elif form == 11:
        text = f"{s} {past(v)} {o} {d.pick(t.places)}, but {d.other_subject()} {past(d.verb2)} {d.obj2} instead"
    elif form == 12:
        text = f"{s} usually {third_person(v)} {o} first, then {third_person(d.verb2)} {d.obj2} {d.pick(t.purposes)}"
    elif form == 13:
        text = f"nobody expected {s} to {v} {o} {d.pick(t.purposes)}"
    elif form == 14:
        text = f"{s} explained how to {v} {o} {d.pick(t.purposes)}"
    else:
        text = f"{s} tried to {v} {o} {d.pick(t.places)}, but {d.pick(SETBACKS)}"
    if form in (0, 1, 3, 6) and d.rng.random() < 0.2:
        text = f"{d.pick(OPENERS)}, {text}"
    return _cap(text) + "."


def _question(d: _Draw) -> str:
    t, s, v, o = d.topic, d.subject, d.verb, d.obj
    form = d.rng.randrange(12)
    if form == 0:
        text = f"how does {s} {v} {o}"
    elif form == 1:
        text = f"how do I {v} {o} {d.pick(t.purposes)}"
    elif form == 2:
        text = f"why would {s} {v} {o}"
    elif form == 3:
        text = f"when should you {v} {o}"
    elif form == 4:
        text = f"who {past(v)} {o} {d.pick(t.places)}"
    elif form == 5:
        text = f"what is the best way to {v} {o}"
    elif form == 6:
        text = f"where does {s} {v} {o}"
    elif form == 7:
        text = f"is it safe to {v} {o} {d.pick(t.conditions)}"
    elif form == 8:
        text = f"can {s} {v} {o} {d.pick(t.places)}"
    elif form == 9:
        text = f"what happens when you {v} {o} {d.pick(t.places)}"
    elif form == 10:
        text = f"any tips for {gerund(v)} {o}"
    else:
        text = f"should {s} {v} {o} {d.pick(t.purposes)}"
    return _cap(text) + "?"


def _stream(kind: str, seed: int) -> Iterator[str]:
    """An endless, seeded stream of sentences (kind 'corpus') or questions (kind 'queries')."""
    rng = random.Random(f"faasflow-bench-{kind}-v{GENERATOR_VERSION}:{seed}")  # str seeds do not depend on hashing
    weights = [t.weight for t in TOPICS]
    render = _statement if kind == "corpus" else _question
    while True:
        topic = rng.choices(TOPICS, weights)[0]
        yield render(_Draw(rng, topic))


def _distinct(kind: str, count: int, seed: int) -> list[str]:
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count!r}")
    out: list[str] = []
    seen: set[str] = set()
    for drawn, text in enumerate(_stream(kind, seed), 1):
        if len(out) >= count:
            break
        if drawn > 20 * count + 1000:
            raise ValueError(f"the grammar has too few distinct {kind} sentences for {count:,}")
        if text not in seen:
            seen.add(text)
            out.append(text)
    return out


def sentences(rows: int, seed: int = 0) -> list[str]:
    """The first ``rows`` distinct corpus sentences of the stream for ``seed``: a prefix of
    any longer call with the same seed. Each ends with a full stop."""
    return _distinct("corpus", rows, seed)


def query_sentences(count: int, seed: int = 0) -> list[str]:
    """The first ``count`` distinct held-out questions for ``seed`` (each ends with a
    question mark, so none is a corpus sentence)."""
    return _distinct("queries", count, seed)


# --- embedding and the cache -----------------------------------------------------------


def cache_dir(model: str = DEFAULT_MODEL) -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "faasflow" / "bench" / "embeddings" / f"v{GENERATOR_VERSION}-{model}"


def _cached(folder: Path, kind: str, count: int) -> np.ndarray | None:
    """``count`` rows of ``kind`` from the cache, memory-mapped: the exact file, else the
    prefix of the smallest larger one."""
    sizes = []
    for path in folder.glob(f"{kind}-*.npy"):
        try:
            sizes.append(int(path.stem.split("-", 1)[1]))
        except ValueError:
            continue
    size = min((n for n in sizes if n >= count), default=None)
    if size is None:
        return None
    rows = np.load(folder / f"{kind}-{size}.npy", mmap_mode="r")
    if rows.dtype != np.float32 or rows.shape != (size, DIM):
        raise ValueError(f"{folder / f'{kind}-{size}.npy'}: expected ({size}, {DIM}) float32, "
                         f"found {rows.shape} {rows.dtype}; delete it to rebuild")
    return rows[:count]


def _write_atomically(path: Path, write: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False)
    try:
        with handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(handle.name, 0o644)  # a temporary file is private; a cache file need not be
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise


def _encoder() -> Any:
    from faasflow.executors import OnnxEncoder

    threads = os.environ.get("OMP_NUM_THREADS")
    return OnnxEncoder(model=DEFAULT_MODEL, threads=int(threads) if threads else None, batch_size=BATCH)


def _embed(encoder: Any, texts: list[str], label: str) -> np.ndarray:
    """Rows for ``texts`` in their order, embedded in batches of similar length; progress to stderr."""
    out = np.empty((len(texts), DIM), np.float32)
    lengths = np.fromiter((len(t) for t in texts), np.int64, len(texts))
    order = np.argsort(lengths, kind="stable")
    # Shortest first, so the ETA comes from characters per second, not rows per second.
    remaining = int(lengths.sum())
    started = last = time.perf_counter()
    for start in range(0, len(texts), BATCH):
        chunk = order[start : start + BATCH]
        rows = encoder.embed_texts([texts[i] for i in chunk], BATCH)
        if rows.shape[1] != DIM:
            raise ValueError(f"model {DEFAULT_MODEL} gave {rows.shape[1]}-dim rows, expected {DIM}")
        out[chunk] = rows
        remaining -= int(lengths[chunk].sum())
        now, done = time.perf_counter(), start + len(chunk)
        if now - last >= 10 or done == len(texts):
            last = now
            rate = done / (now - started)
            eta = remaining * (now - started) / max(int(lengths.sum()) - remaining, 1)
            print(f"  {label}: {done:,}/{len(texts):,} rows, {rate:,.0f} rows/s, "
                  f"ETA {int(eta // 60)}m{int(eta % 60):02d}s", file=sys.stderr, flush=True)
    norms = np.linalg.norm(out, axis=1, keepdims=True)  # the model's manifest normalizes; make sure
    out /= np.maximum(norms, 1e-12)
    return out


def _build(folder: Path, kind: str, texts: list[str], encoder: Any) -> None:
    started = time.perf_counter()
    rows = _embed(encoder, texts, kind)
    seconds = time.perf_counter() - started
    path = folder / f"{kind}-{len(texts)}.npy"
    _write_atomically(path, lambda f: np.save(f, rows))
    meta = {
        "generator_version": GENERATOR_VERSION, "seed": SEED, "kind": kind, "rows": len(texts), "dim": DIM,
        "model": encoder.files.name, "model_fingerprint": encoder.files.manifest.get("fingerprint"),
        "provider": encoder.model.provider, "batch_size": BATCH, "threads": os.environ.get("OMP_NUM_THREADS"),
        "build_seconds": round(seconds, 1), "rows_per_second": round(len(texts) / max(seconds, 1e-9), 1),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    _write_atomically(path.with_suffix(".json"), lambda f: f.write(json.dumps(meta, indent=2).encode() + b"\n"))
    print(f"  {kind}: {len(texts):,} rows in {seconds:.0f} s -> {path}", file=sys.stderr, flush=True)


def load(rows: int = 100_000, queries: int = 1_000) -> tuple[np.ndarray, np.ndarray]:
    """(corpus, queries): ``(rows, 384)`` and ``(queries, 384)`` float32, L2-normalised,
    read-only and memory-mapped from the cache; built (minutes) and cached on first use."""
    if rows < 1 or queries < 1:
        raise ValueError(f"rows and queries must be >= 1, got {rows!r} and {queries!r}")
    folder = cache_dir()
    corpus, query_rows = _cached(folder, "corpus", rows), _cached(folder, "queries", queries)
    if corpus is None or query_rows is None:
        encoder = _encoder()
        if corpus is None:
            print(f"embedding corpus: {rows:,} sentences with {DEFAULT_MODEL} (cached under {folder})",
                  file=sys.stderr, flush=True)
            _build(folder, "corpus", sentences(rows, SEED), encoder)
            corpus = _cached(folder, "corpus", rows)
        if query_rows is None:
            _build(folder, "queries", query_sentences(queries, SEED), encoder)
            query_rows = _cached(folder, "queries", queries)
    assert corpus is not None and query_rows is not None
    return corpus, query_rows


# --- main ------------------------------------------------------------------------------


def nearest(queries: np.ndarray, corpus: np.ndarray, chunk: int = 20_000) -> tuple[np.ndarray, np.ndarray]:
    """Each query's nearest corpus row by cosine (rows are unit vectors): (cosines, positions)."""
    best = np.full(len(queries), -np.inf, np.float32)
    where = np.zeros(len(queries), np.int64)
    for start in range(0, len(corpus), chunk):
        scores = queries @ np.asarray(corpus[start : start + chunk]).T
        top = scores.argmax(axis=1)
        value = scores[np.arange(len(queries)), top]
        better = value > best
        best[better], where[better] = value[better], top[better] + start
    return best, where


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=1_000)
    args = parser.parse_args()

    folder = cache_dir()
    wanted = (("corpus", args.rows), ("queries", args.queries))
    was_cached = all(_cached(folder, kind, count) is not None for kind, count in wanted)
    started = time.perf_counter()
    corpus, queries = load(args.rows, args.queries)
    seconds = time.perf_counter() - started
    print(f"corpus {corpus.shape} {corpus.dtype}, queries {queries.shape} {queries.dtype}")
    print(f"{'loaded from the cache' if was_cached else 'built and cached'} in {seconds:.2f} s: {folder}")
    for path in sorted(folder.glob("*.npy")):
        print(f"  {path.name}: {path.stat().st_size / 2**20:.1f} MiB")

    texts, questions = sentences(args.rows, SEED), query_sentences(args.queries, SEED)
    cosines, positions = nearest(np.asarray(queries), corpus)
    norms = np.linalg.norm(np.asarray(corpus[: min(len(corpus), 10_000)]), axis=1)
    print(f"distinct sentences: {len(set(texts)) / len(texts):.4f} of the corpus; "
          f"queries also in the corpus: {len(set(questions) & set(texts))}")
    print(f"norms of the first {len(norms):,} rows: {norms.min():.6f} .. {norms.max():.6f}")
    print(f"query -> nearest corpus row, cosine: mean {cosines.mean():.4f}, "
          f"p5 {np.percentile(cosines, 5):.4f}, p50 {np.median(cosines):.4f}, p95 {np.percentile(cosines, 95):.4f}")
    for i in range(min(3, len(questions))):
        print(f"  {questions[i]!r}\n    -> {texts[positions[i]]!r} ({cosines[i]:.3f})")


if __name__ == "__main__":
    main()
